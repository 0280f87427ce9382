"""Every CUDA path of the engine, at tiny sizes: bf16 autocast, channels_last, the out-of-memory
retry, datasets held in pinned host memory, the NVML sampler, feature caching and the estimate.

These run only where a CUDA GPU is visible (``pytest -m gpu``; benchmarks/gpu_check.py runs them
first); elsewhere each one is skipped with the reason."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from tlcompare.spec import build_spec
from tlcompare.train import prepare, train_run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible here)"),
]

CUDA = torch.device("cuda")
SPEC = {"dataset": "digits", "image_size": 32, "sizes": [20], "seeds": 1, "freeze": [0, "all"], "epochs": 3,
        "augment": "none", "device": "cuda", "model": "efficientnet_lite0"}


def _losses(result) -> list[float]:
    return [e["train_loss"] for e in result.epochs]


def test_training_on_cuda_runs_convolutions_in_bf16_and_channels_last():
    seen: list[tuple[torch.dtype, bool]] = []

    def hook(module, args, output):
        if isinstance(module, torch.nn.Conv2d) and args[0].dim() == 4 and module.training:
            seen.append((output.dtype, args[0].is_contiguous(memory_format=torch.channels_last)))

    spec = build_spec({**SPEC, "freeze": [0]})
    data = prepare(spec, CUDA)
    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        run = next(r for r in spec.runs() if r.arm == "scratch")
        result = train_run(run, data, CUDA)
    finally:
        handle.remove()
    assert result.status == "done" and result.device.startswith("cuda")
    assert all(torch.isfinite(torch.tensor(_losses(result))))
    assert seen, "no convolution ran in training mode"
    assert {dtype for dtype, _ in seen} == {torch.bfloat16}
    # The stem sees the channels_last batch; depthwise layers may hand on either layout.
    assert seen[0][1], "the first convolution's input is not channels_last"
    assert result.final["peak_mem_mb"] > 0


def test_running_out_of_gpu_memory_restarts_the_run_at_a_smaller_batch():
    """Fill the card until only a little is left, then ask for a batch that cannot fit: the retry
    must halve the batch until it trains, and say so in the result."""
    spec = build_spec({**SPEC, "model": "resnet18", "image_size": 224, "sizes": [120], "freeze": [0], "epochs": 1,
                       "batch_size": 512, "min_steps_per_epoch": 1})
    data = prepare(spec, CUDA)  # the images first: they are not what runs out
    run = next(r for r in spec.runs() if r.arm == "scratch")
    filler, chunk = [], 256 * 2**20
    # resnet18 at 224 px trains at batch 64 and evaluates at 512 (no gradients) within this; training
    # at batch 512 needs several times more.
    leave = 3 * 2**30
    try:
        while torch.cuda.mem_get_info(CUDA)[0] > leave + chunk:
            filler.append(torch.empty(chunk, dtype=torch.uint8, device=CUDA))
        result = train_run(run, data, CUDA)
    finally:
        del filler
        torch.cuda.empty_cache()
    assert result.status == "done"
    assert result.oom_retries >= 1 and result.batch_size < 512
    assert all(torch.isfinite(torch.tensor(_losses(result))))


def test_a_dataset_in_pinned_host_memory_trains_like_a_resident_one_on_cuda():
    spec = build_spec(SPEC)
    resident = prepare(spec, CUDA)
    host = prepare(spec, CUDA, budget_bytes=0)
    assert not resident.on_host and resident.images.is_cuda
    assert host.on_host and host.images.device.type == "cpu" and host.images.is_pinned()
    assert torch.equal(resident.images.cpu(), host.images)
    deterministic = torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    try:
        for run in spec.runs():  # scratch, fine-tune all, and the linear probe's cached features
            a = train_run(run, resident, CUDA)
            b = train_run(run, host, CUDA)
            assert _losses(a) == pytest.approx(_losses(b), rel=1e-3), run.label()
            assert a.final["test_acc"] == pytest.approx(b.final["test_acc"], abs=0.02), run.label()
    finally:
        torch.backends.cudnn.deterministic = deterministic


def test_linear_probes_reuse_features_cached_on_the_gpu():
    spec = build_spec({**SPEC, "freeze": ["all"], "seeds": 2})
    data = prepare(spec, CUDA)
    probes = [r for r in spec.runs() if r.arm == "pretrained"]
    assert len(probes) == 2 and all(r.caches_features for r in probes)
    first, second = (train_run(r, data, CUDA) for r in probes)
    assert (first.feature_cache, second.feature_cache) == ("computed", "reused")
    (features,) = data.features.values()
    assert features.images.is_cuda and features.test.is_cuda


def test_the_estimate_probes_the_gpu():
    from tlcompare.estimate.runtime import probe_throughput

    tp = probe_throughput("efficientnet_lite0", 32, 64, "cuda", steps=2, budget=2.0)
    assert torch.cuda.get_device_name() in tp.device
    assert tp.images_per_second(0.0) > 0 and tp.images_per_second(1.0) > 0 and tp.eval_image_seconds > 0


def test_the_nvml_sampler_sees_the_gpu_working():
    pytest.importorskip("pynvml", reason="the NVML sampler needs pynvml (pip install nvidia-ml-py)")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from sweep import GpuSampler

    a = torch.randn(4096, 4096, device=CUDA)
    with GpuSampler(CUDA) as gpu:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 1.5:
            a = (a @ a).tanh_()
        torch.cuda.synchronize()
    assert gpu.handle is not None and len(gpu.samples) >= 5
    assert gpu.mean() is not None and gpu.mean() > 0
