"""Choosing the device and describing it."""

from __future__ import annotations

import platform

import torch

from tlcompare.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' was asked for but no CUDA GPU is visible; use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device '{name}' does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
        return dev
    if name == "cpu":
        return torch.device("cpu")
    raise UserError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")


def describe_device(device: torch.device, threads: bool = True) -> str:
    """The device in words; on the CPU with the thread count torch uses now (``threads``), which a
    run's timings depend on as much as on the processor."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    n = torch.get_num_threads()
    return f"CPU{_cpu_model()}" + (f" ({n} thread{'s' if n != 1 else ''})" if threads else "")


def _cpu_model() -> str:
    """' <model name>' from /proc/cpuinfo where there is one: timings are only comparable on one machine."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return " " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    name = platform.processor()
    return f" {name}" if name else ""


def mixed_precision(device: torch.device):
    """The autocast context of training and evaluation steps.

    bf16 on CUDA: tensor-core speed with float32's exponent range, so no loss scaling is needed.
    The CPU computes in float32, which keeps its runs bit-for-bit repeatable for their seed.
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
