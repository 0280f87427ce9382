"""Overfitting, run by run: accuracy on the training images against validation accuracy.

The training accuracy here is the model's own training images scored without augmentation
(``train_acc_clean``: per epoch on at most 1,000 of them, at the end on all). Runs trained before
that was recorded per epoch fall back to the running accuracy on augmented batches, marked as such.
Plain pandas: the CLI, the report's tables and the dashboard share it; no plotly here.
"""

from __future__ import annotations

import math

import pandas as pd

from tlcompare.analysis.frames import variant, variant_order

# The one line that explains the old dashed line: why it can sit under validation accuracy.
AUGMENTED_BELOW_VALIDATION = (
    "Accuracy on augmented training batches can sit below validation accuracy: the batches are shifted copies, "
    "harder than the plain images, and the figure averages an epoch whose early steps used older, worse weights.")
HINT = ("Training accuracy well above validation accuracy is overfitting: the model learns its few training images "
        "rather than the task. The gap is training minus validation accuracy of the reported model, in points.")
PLAIN, AUGMENTED = "training images", "augmented batches"


def _finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def overfit_curves(runs: list[dict]) -> pd.DataFrame:
    """One row per finished run and epoch: train and validation accuracy, and what the train figure measured."""
    rows = []
    for r in runs:
        if r.get("status") not in ("done", "diverged"):
            continue
        for e in r.get("epochs") or []:
            plain = _finite(e.get("train_acc_clean"))
            rows.append({"run_id": r.get("run_id"), "variant": variant(r["arm"], r.get("freeze")), "size": r["size"],
                         "seed": r["seed"], "epoch": e["epoch"], "val_acc": e.get("val_acc"),
                         "train_acc": e["train_acc_clean"] if plain else e.get("train_acc"),
                         "train_measured": PLAIN if plain else AUGMENTED})
    return pd.DataFrame(rows, columns=["run_id", "variant", "size", "seed", "epoch", "val_acc", "train_acc",
                                       "train_measured"])


def overfit_gaps(runs: list[dict]) -> pd.DataFrame:
    """One row per finished run: the reported model's accuracy on its training images without
    augmentation, its validation accuracy and the gap between them (points); NaN where a run did
    not measure the plain training accuracy (none is made up from augmented batches)."""
    rows = []
    for r in runs:
        if r.get("status") not in ("done", "diverged"):
            continue
        final = r.get("final") or {}
        train, val = final.get("train_acc_clean"), final.get("val_acc")
        train = train if _finite(train) else float("nan")
        val = val if _finite(val) else float("nan")
        rows.append({"run_id": r.get("run_id"), "variant": variant(r["arm"], r.get("freeze")), "size": r["size"],
                     "seed": r["seed"], "epoch": final.get("final_epoch"), "train_acc": train, "val_acc": val,
                     "gap": 100 * (train - val)})
    frame = pd.DataFrame(rows, columns=["run_id", "variant", "size", "seed", "epoch", "train_acc", "val_acc", "gap"])
    if frame.empty:
        return frame
    order = {v: i for i, v in enumerate(variant_order(frame["variant"]))}
    frame = frame.assign(_o=frame["variant"].map(order)).sort_values(["size", "seed", "_o"]).drop(columns="_o")
    return frame.reset_index(drop=True)


def gaps_display(gaps: pd.DataFrame) -> pd.DataFrame:
    """The gap table as people read it: percentages and points, one row per run."""
    return pd.DataFrame({
        "variant": gaps["variant"], "size / class": gaps["size"], "seed": gaps["seed"],
        "train acc (no augmentation)": (100 * gaps["train_acc"]).round(1),
        "val acc": (100 * gaps["val_acc"]).round(1), "gap (points)": gaps["gap"].round(1),
    })
