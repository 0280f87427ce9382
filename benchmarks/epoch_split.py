"""What an epoch spends: training, validation, the plain training sample and (in versions that
evaluated it every epoch) the test set, timed around each evaluation call of a real run.

    python benchmarks/epoch_split.py                       # digits, 32 px, 5 per class, fine-tune all
    python benchmarks/epoch_split.py --size 100 --epochs 3

It wraps ``Inputs.predict`` and sorts each call by what it evaluates (the validation set, the test
set, other training images), so the same script measures older checkouts too
(``PYTHONPATH=<checkout> python benchmarks/epoch_split.py``). One thread by default
(``--threads``); the load is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import fields

import torch

from tlcompare.spec import ExperimentSpec, build_spec
from tlcompare.train import prepare, resolve_device, train_run
from tlcompare.train.inputs import Inputs


def _others_busy() -> float | None:
    try:
        from tlcompare.threads import others_busy_cores
    except ImportError:  # a checkout from before threads.py
        return None
    return round(others_busy_cores(1.0) or 0.0, 2)


def measure(size: int, epochs: int, image_size: int, device: str, threads: int) -> dict:
    # held_out named: the 179-image validation set docs/benchmarks.md timed (the default until 2026-12-08);
    # a checkout from before the setting existed validates that way anyway and would refuse the key.
    held_out = {"validation": "held_out"} if "validation" in {f.name for f in fields(ExperimentSpec)} else {}
    spec = build_spec({"dataset": "digits", "image_size": image_size, "sizes": [size], "seeds": 1, "freeze": [0],
                       "budget": "epochs", "epochs": epochs, "device": device, **held_out})
    dev = resolve_device(spec.device)
    data = prepare(spec, dev)
    run = next(r for r in spec.runs() if r.arm == "pretrained")
    spent: dict[str, float] = {}
    per_epoch: list[dict] = []
    predict = Inputs.predict

    def timed(self, x, y, loss_fn=None):
        # Validation always comes with a loss; on the CPU it shares one call with the plain sample.
        kind = ("val" if x is self.val[0] else "test" if x is self.test[0]
                else "val+plain" if loss_fn is not None else "plain")
        t0 = time.perf_counter()
        out = predict(self, x, y, loss_fn)
        spent[kind] = spent.get(kind, 0.0) + time.perf_counter() - t0
        return out

    def on_epoch(record):
        per_epoch.append({"train": record["train_seconds"], **spent})
        spent.clear()

    torch.set_num_threads(threads)  # fixed, so checkouts with and without the thread choice compare
    load = {"loadavg_1min": round(os.getloadavg()[0], 2), "others_busy_cores": _others_busy()}
    Inputs.predict = timed
    try:
        res = train_run(run, data, dev, on_epoch=on_epoch)
    finally:
        Inputs.predict = predict
    after = dict(spent)  # what the run evaluated once it had trained: the final passes
    kinds = ("train", "val", "test", "plain", "val+plain")
    mean = {k: statistics.mean(e.get(k, 0.0) for e in per_epoch) for k in kinds}
    return {"n_train": res.n_train, "epochs": len(per_epoch), "per_epoch_mean": mean, "after_training": after,
            "threads": torch.get_num_threads(), **load}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch's intra-op threads (default 1)")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args()
    out = measure(args.size, args.epochs, args.image_size, args.device, args.threads)
    m = out["per_epoch_mean"]
    print(f"digits, {args.image_size} px, fine-tune all, {out['n_train']} training images, {out['epochs']} epochs, "
          f"{out['threads']} threads; load {out['loadavg_1min']}, others busy {out['others_busy_cores']} cores")
    evaluated = m["val"] + m["test"] + m["plain"] + m["val+plain"]
    print(f"per epoch: train {m['train']:.2f} s, validation {m['val']:.2f} s, test {m['test']:.2f} s, "
          f"plain train {m['plain']:.2f} s, validation + plain train in one pass {m['val+plain']:.2f} s; "
          f"evaluation in all {100 * evaluated / m['train']:.0f} % of training")
    print("after training: " + ", ".join(f"{k} {v:.2f} s" for k, v in out["after_training"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
