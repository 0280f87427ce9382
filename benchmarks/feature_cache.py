"""Feature caching: linear probes without augmentation, with the frozen body run once vs every step.

Both sweeps train the same runs (scratch is left out: caching does not touch it) and print the
wall time, the summed training time and the test accuracy per size, so the gain and the
agreement are visible side by side.

    python benchmarks/feature_cache.py --device cpu
    python benchmarks/feature_cache.py --dataset elpv --image-size 128 --json fc.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import time

import torch

from tlcompare.analysis.frames import runs_frame, summary
from tlcompare.spec import build_spec
from tlcompare.train import describe_device, prepare, resolve_device, train_run


def probe_sweep(values: dict, cache: bool) -> dict:
    """Data preparation and every linear probe of the spec, timed end to end."""
    spec = build_spec({**values, "freeze": ["all"], "augment": "none", "feature_cache": cache})
    device = resolve_device(spec.device)
    t0 = time.perf_counter()
    data = prepare(spec, device)
    results = [train_run(run, data, device).to_dict() for run in spec.runs() if run.arm == "pretrained"]
    wall = time.perf_counter() - t0
    frame = runs_frame(results)
    return {"feature_cache": cache, "device": describe_device(device), "runs": len(results),
            "wall_seconds": round(wall, 1), "train_seconds": round(float(frame["train_seconds"].sum()), 1),
            "test_acc_by_size": {int(k): v for k, v in summary(frame).set_index("size")["mean"].round(4).items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--sizes", default="5,20,100")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--json")
    args = p.parse_args()
    values = {"dataset": args.dataset, "model": args.model, "image_size": args.image_size, "sizes": args.sizes,
              "seeds": args.seeds, "epochs": args.epochs, "budget": "epochs", "device": args.device,
              "validation": "held_out"}  # as docs/benchmarks.md measured it (the default until 2026-12-08)
    rows = [probe_sweep(values, cache) for cache in (False, True)]
    for r in rows:
        print(json.dumps(r))
    off, on = rows
    print(f"feature cache: {off['wall_seconds']:.1f} s -> {on['wall_seconds']:.1f} s wall "
          f"(x{off['wall_seconds'] / on['wall_seconds']:.1f}), training {off['train_seconds']:.1f} s -> "
          f"{on['train_seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": datetime.date.today().isoformat(), "torch": torch.__version__, "args": vars(args),
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
