"""Test images a run got wrong, rebuilt from the dataset: runs store only indices into the test set.

The test set of an experiment depends on the dataset and its split settings only (never on a
run), so the images are rebuilt the way training built them: the official test split when the
dataset has one, else the held-out indices of ``make_splits``, in the same order.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from tlcompare.errors import UserError


@dataclass
class ExperimentTestSet:
    images: np.ndarray  # N x H x W x C uint8 (C is 1 or 3), at the dataset's own resolution
    labels: np.ndarray  # N int64
    class_names: list[str]


def experiment_test_set(spec: dict) -> ExperimentTestSet:
    """The experiment's test set in the order the ``misclassified`` indices refer to."""
    from tlcompare.data import load_dataset  # torch: see test_set_in_child
    from tlcompare.data.splits import make_splits

    ds = load_dataset(spec["dataset"], spec.get("data_root"))
    splits = make_splits(ds, spec.get("val_fraction", 0.1), spec.get("test_fraction", 0.2), spec.get("split_seed", 0))
    if splits.test is None:
        images, labels = ds.test_images, ds.test_labels
    else:
        images, labels = ds.images[splits.test], ds.labels[splits.test]
    return ExperimentTestSet(images.permute(0, 2, 3, 1).numpy(), labels.numpy(), list(ds.class_names))


def test_set_in_child(spec: dict) -> ExperimentTestSet:
    """``experiment_test_set`` built by a child process: decoding the dataset needs torch, which
    would add about 550 MB to the dashboard process for a few dozen thumbnails."""
    keep = {k: spec.get(k) for k in ("dataset", "data_root", "val_fraction", "test_fraction", "split_seed")}
    out = subprocess.run([sys.executable, "-m", "tlcompare.analysis.mistakes", json.dumps(keep)], capture_output=True, timeout=600)
    if out.returncode != 0:
        lines = out.stderr.decode(errors="replace").strip().splitlines()
        raise UserError(lines[-1] if lines else f"the test images could not be read (exit {out.returncode})")
    data = np.load(io.BytesIO(out.stdout), allow_pickle=False)
    return ExperimentTestSet(data["images"], data["labels"], [str(c) for c in data["class_names"]])


def _write_test_set(spec_json: str) -> None:
    test = experiment_test_set({k: v for k, v in json.loads(spec_json).items() if v is not None})
    buffer = io.BytesIO()
    np.savez(buffer, images=test.images, labels=test.labels, class_names=np.array(test.class_names, dtype=str))
    sys.stdout.buffer.write(buffer.getvalue())


def display_image(image: np.ndarray, target: int = 96) -> np.ndarray:
    """Blocky enlargement for tiny images (8x8 digits stay crisp), striding down for big ones."""
    h = image.shape[0]
    if h < target:
        k = max(1, target // h)
        image = image.repeat(k, axis=0).repeat(k, axis=1)
    elif h > 2 * target:
        step = h // target
        image = image[::step, ::step]
    return image[..., 0] if image.shape[-1] == 1 else image


@dataclass
class Mistake:
    index: int
    true: str
    pred: str
    image: np.ndarray
    also_wrong_elsewhere: bool  # the other arm of the pair got this image wrong too


def mistakes(run: dict, test: ExperimentTestSet, other_wrong: set[int] | None = None, limit: int = 12) -> list[Mistake]:
    """Up to ``limit`` images ``run`` misclassified, those that only this run got wrong first."""
    other_wrong = other_wrong or set()
    items = [m for m in run.get("misclassified") or [] if 0 <= m["index"] < len(test.labels)]
    items.sort(key=lambda m: (m["index"] in other_wrong, m["index"]))
    names = test.class_names
    out = []
    for m in items[:limit]:
        true = names[m["true"]] if m["true"] < len(names) else str(m["true"])
        pred = names[m["pred"]] if m["pred"] < len(names) else str(m["pred"])
        out.append(Mistake(m["index"], true, pred, display_image(test.images[m["index"]]), m["index"] in other_wrong))
    return out


if __name__ == "__main__":
    try:
        _write_test_set(sys.argv[1])
    except Exception as e:  # one line for the page's message, never a traceback
        print(f"{type(e).__name__}: {e}" if not isinstance(e, UserError) else str(e), file=sys.stderr)
        sys.exit(2)
