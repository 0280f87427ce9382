"""Time saved: how long scratch trains to reach what a pretrained variant ends with, from the per-second curves.

For each pretrained variant and size N: the target is the variant's final validation accuracy
(mean over seeds; validation, as for time to target: the test set stays for the answer). Scratch's
time is the median training seconds at which validation accuracy first reached it, over the
scratch runs of the smallest measured size from N up where at least half of the runs did (scratch
often needs more labels as well as more time); the variant's time is the median seconds at which
its own runs first did. "Not reached": no measured scratch size gets there. Seconds are training
seconds (evaluation excluded), so both arms compare on the optimiser's work.
"""

from __future__ import annotations

import math

import pandas as pd

from tlcompare.analysis.frames import time_to_target, variant_order

COLUMNS = ["variant", "size", "target_val_acc", "variant_seconds", "scratch_size", "scratch_seconds", "saved_seconds",
           "speedup", "features_cached"]


def _median_reached(per_run: pd.DataFrame) -> tuple[float, int]:
    reached = per_run["seconds"].dropna()
    if len(reached) * 2 < len(per_run) or not len(reached):
        return float("nan"), len(reached)
    return float(reached.median()), len(reached)


def time_saved(epochs: pd.DataFrame, cached: set | None = None) -> pd.DataFrame:
    """One row per pretrained variant and size that has finished runs of both arms (``COLUMNS``).

    ``cached``: (variant, size) of linear probes that trained on features computed once for the whole
    experiment; their seconds are the head's only, so no ratio is given for them."""
    if epochs.empty or "val_acc" not in epochs or "elapsed_train_seconds" not in epochs:
        return pd.DataFrame(columns=COLUMNS)
    done = epochs[epochs["status"] == "done"] if "status" in epochs else epochs
    rows = []
    pre = done[done["arm"] == "pretrained"]
    for var in variant_order(pre["variant"]):
        for size in sorted(int(s) for s in pre.loc[pre["variant"] == var, "size"].unique()):
            own = pre[(pre["variant"] == var) & (pre["size"] == size)]
            finals = own.sort_values("epoch").groupby("seed")["val_acc"].last()
            target = float(finals.mean())
            mine, _ = _median_reached(time_to_target(own, target))
            theirs, where = float("nan"), None
            scratch = done[(done["arm"] == "scratch") & (done["size"] >= size)]
            if scratch.empty:
                continue
            for n in sorted(int(s) for s in scratch["size"].unique()):
                theirs, _ = _median_reached(time_to_target(scratch[scratch["size"] == n], target))
                if math.isfinite(theirs):
                    where = n
                    break
            shared = (var, size) in (cached or set())
            rows.append({"variant": var, "size": size, "target_val_acc": target, "variant_seconds": mine,
                         "scratch_size": where, "scratch_seconds": theirs,
                         "saved_seconds": float("nan") if shared else theirs - mine,
                         "speedup": theirs / mine if mine > 0 and not shared else float("nan"),
                         "features_cached": shared})
    return pd.DataFrame(rows, columns=COLUMNS)


def time_line(r) -> str:
    """'Fine-tune all reaches 93.1 % validation accuracy with 20 per class in 6.0 s of training; scratch needs
    50 per class and 41.0 s (6.8x the time).'"""
    name = r["variant"].removeprefix("pretrained, ")
    size = int(r["size"])
    mine = f"in {r['variant_seconds']:.1f} s of training" if math.isfinite(r["variant_seconds"]) else "(time not known)"
    if r.get("features_cached"):
        mine += " (the head only: the frozen body's features were computed once for the whole experiment)"
    text = f"{name[0].upper()}{name[1:]} reaches {100 * r['target_val_acc']:.1f} % validation accuracy with {size} per class {mine}; "
    if not math.isfinite(r["scratch_seconds"]):
        return text + f"scratch does not reach it at any measured size from {size} per class up."
    where = "the same images" if int(r["scratch_size"]) == size else f"{int(r['scratch_size'])} per class"
    text += f"scratch needs {where} and {r['scratch_seconds']:.1f} s"
    return text + (f" ({r['speedup']:.1f}x the time)." if math.isfinite(r["speedup"]) else ".")
