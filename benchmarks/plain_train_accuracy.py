"""What the per-epoch training accuracy without augmentation costs: the same fine-tuning run with the
plain pass over (at most 1,000) training images after every epoch, and without it, alternating.

    python benchmarks/plain_train_accuracy.py --device cpu
    python benchmarks/plain_train_accuracy.py --size 100 --image-size 32 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics

import torch

from tlcompare import evaluation_plan as plan
from tlcompare.spec import build_spec
from tlcompare.train import describe_device, prepare, resolve_device, train_run


def measure(size: int, image_size: int, epochs: int, repeats: int, device: str) -> list[dict]:
    # held_out named: the training set docs/benchmarks.md measured (the default until 2026-12-08).
    spec = build_spec({"dataset": "digits", "image_size": image_size, "sizes": [size], "seeds": 1, "freeze": [0],
                       "budget": "epochs", "epochs": epochs, "device": device, "validation": "held_out"})
    dev = resolve_device(spec.device)
    data = prepare(spec, dev)
    run = next(r for r in spec.runs() if r.arm == "pretrained")
    rows, default = [], plan.PLAIN_TRAIN_SAMPLE
    try:
        for _ in range(repeats):
            for limit in (default, 0):  # 0: an empty sample, so the plain pass does no work
                plan.PLAIN_TRAIN_SAMPLE = limit
                res = train_run(run, data, dev)
                rows.append({"plain_pass": limit > 0, "n_train": res.n_train,
                             "eval_s": statistics.mean(e["eval_seconds"] for e in res.epochs),
                             "train_s": statistics.mean(e["train_seconds"] for e in res.epochs)})
    finally:
        plan.PLAIN_TRAIN_SAMPLE = default
    print(f"{describe_device(dev)}, digits, {image_size} px, fine-tune all, {size} per class, {epochs} epochs per run")
    for r in rows:
        print(f"plain pass {'on ' if r['plain_pass'] else 'off'}: {r['n_train']} training images, "
              f"evaluation {r['eval_s']:.2f} s per epoch, training {r['train_s']:.2f} s per epoch")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    torch.set_num_threads(1)
    measure(args.size, args.image_size, args.epochs, args.repeats, args.device)


if __name__ == "__main__":
    main()
