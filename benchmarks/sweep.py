"""A whole experiment end to end, data preparation included: the number a user waits for.

Default: the GPU demo (ELPV, efficientnet_lite0, 128 px, sizes 10..500 per class, scratch +
pretrained at depths 0 and all, 3 seeds, 20 epochs = 54 runs). ``--cpu-quick`` runs the dashboard's
CPU-quick preset instead.

    python benchmarks/sweep.py --json sweep.json
    python benchmarks/sweep.py --cpu-quick --device cpu
    python benchmarks/sweep.py --values '{"dataset": "digits", "sizes": [10, 25, 50, 100]}'

Reports the wall time next to the estimate the dashboard shows before Start (from the same
throughput probe), the summed training time, the mean images/s, the peak memory of a run, and, on
CUDA, the GPU's busy fraction sampled with NVML while the sweep runs (when pynvml is installed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import threading
import time

import torch

from tlcompare.analysis.frames import runs_frame, summary
from tlcompare.spec import build_spec
from tlcompare.train import describe_device, resolve_device
from tlcompare.train.experiment import run_experiment

GPU_DEMO = {"dataset": "elpv", "model": "efficientnet_lite0", "image_size": 128, "sizes": [10, 25, 50, 100, 250, 500],
            "freeze": [0, "all"], "seeds": 3, "epochs": 20, "budget": "epochs", "augment": "crop_flip", "batch_size": 256}


def cpu_quick() -> dict:
    from tlcompare.presets import PRESETS  # the dashboard's presets live in the engine

    return dict(PRESETS["cpu_quick"].values)


class GpuSampler:
    """Samples NVML utilisation every 100 ms in a thread; None when NVML is unavailable."""

    def __init__(self, device: torch.device):
        self.samples: list[int] = []
        self.stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
            self.nvml = pynvml
        except Exception:
            self.handle = None

    def __enter__(self):
        if self.handle is not None:
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()
        return self

    def _loop(self):
        while not self.stop.is_set():
            self.samples.append(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
            time.sleep(0.1)

    def __exit__(self, *exc):
        self.stop.set()

    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def estimated_seconds(spec) -> float:
    """What the New experiment page shows before Start: a measured probe, then arithmetic per run."""
    from tlcompare.data.facts import dataset_facts
    from tlcompare.estimate.runtime import cached_throughput, estimate
    from tlcompare.models import model_info

    facts = dataset_facts(spec.dataset, spec.data_root, spec.val_fraction, spec.test_fraction, spec.split_seed)
    tps = {m: cached_throughput(m, spec.image_size, spec.batch_size, spec.device) for m in {r.model for r in spec.runs()}}
    return estimate(spec, tps, facts.num_classes, facts.n_val, facts.n_test, len(model_info(spec.model).stage_names),
                    worker_running=True,
                           n_images=sum(facts.pool_counts) + facts.n_val + facts.n_test).seconds


def per_run(res) -> dict:
    """One run's line of the sweep's JSON: what it cost and how much GPU memory it held."""
    def num(key: str, digits: int):
        v = res.final.get(key)
        return round(v, digits) if isinstance(v, float) and math.isfinite(v) else None

    return {"arm": res.arm, "size": res.size, "seed": res.seed, "freeze": res.freeze, "batch_size": res.batch_size,
            "oom_retries": res.oom_retries, "train_seconds": num("train_seconds", 2),
            "images_per_sec": num("images_per_sec", 0), "peak_mem_mb": num("peak_mem_mb", 1),
            "test_acc": res.final.get("test_acc"), "feature_cache": res.feature_cache}


def run_sweep(values: dict, with_estimate: bool = True, progress_json: str | None = None) -> dict:
    """The sweep's figures. ``progress_json``: after every run, the runs so far go there (with
    ``"complete": false``), so a sweep stopped by a time limit still leaves what it measured."""
    spec = build_spec(values)
    est = estimated_seconds(spec) if with_estimate else None
    device = resolve_device(spec.device)
    runs: list[dict] = []

    def progress(_run, res):
        runs.append(per_run(res))
        if progress_json:
            head = {"device": describe_device(device), "date": datetime.date.today().isoformat(),
                    "spec": spec.to_dict(), "estimated_seconds": est, "complete": False,
                    "seconds_so_far": round(time.perf_counter() - t0, 1), "gpu_busy_percent_so_far": gpu.mean()}
            with open(progress_json, "w") as f:
                json.dump({**head, "per_run": runs}, f, indent=1)

    t0 = time.perf_counter()
    with GpuSampler(device) as gpu:
        result = run_experiment(spec, on_run_end=progress)
    wall = time.perf_counter() - t0
    frame = runs_frame([r.to_dict() for r in result.runs])
    return {
        "device": result.environment["device"], "date": datetime.date.today().isoformat(), "torch": torch.__version__,
        "spec": spec.to_dict(), "runs": len(result.runs), "complete": True, "wall_seconds": round(wall, 1),
        "estimated_seconds": None if est is None else round(est, 1),
        "estimate_error_percent": None if est is None else round(100 * (est - wall) / wall, 1),
        "train_seconds": round(float(frame["train_seconds"].sum()), 1),
        "mean_images_per_sec": round(float(frame["images_per_sec"].mean())),
        "peak_mem_mb": round(float(frame["peak_mem_mb"].max()), 1) if "peak_mem_mb" in frame else None,
        "gpu_busy_percent": gpu.mean(),
        "gpu_samples": len(gpu.samples),
        "per_run": runs,
        "test_acc": summary(frame).to_dict(orient="records"),
        "frame": frame,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-quick", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--values", help="JSON object of spec fields over the default's, e.g. '{\"dataset\": \"digits\"}'")
    p.add_argument("--json", help="write the figures here (and the runs so far after each run)")
    args = p.parse_args()
    values = cpu_quick() if args.cpu_quick else dict(GPU_DEMO)
    values["device"] = args.device
    values.update(json.loads(args.values) if args.values else {})
    out = run_sweep(values, progress_json=args.json)
    frame = out.pop("frame")
    print(json.dumps({k: v for k, v in out.items() if k not in ("spec", "test_acc", "per_run")}, indent=1))
    print(summary(frame).pivot(index="size", columns="variant", values="mean").round(3).to_string())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
