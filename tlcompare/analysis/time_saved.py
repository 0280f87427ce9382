"""Time saved: how long scratch trains to reach what a pretrained variant ends with, from the per-second curves.

For each pretrained variant and size N: the target is the validation accuracy of the model each of
the variant's runs reports (``final.val_acc``: the best-validation or last epoch's model, whichever
the run reports), averaged over seeds; validation, as for time to target: the test set stays for
the answer. Only runs trained on one machine count (``frames.timing_machine``, as for total
training time): seconds from two machines or thread counts do not compare. Scratch's
time is the median training seconds at which validation accuracy first reached it, over the
scratch runs of the smallest measured size from N up where at least half of the runs did (scratch
often needs more labels as well as more time); the variant's time is the median seconds at which
its own runs first did. "Not reached": no measured scratch size gets there. Seconds are training
seconds (evaluation excluded), so both arms compare on the optimiser's work.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tlcompare.analysis.frames import timing_machine, variant_order

COLUMNS = ["variant", "size", "target_val_acc", "variant_seconds", "scratch_size", "scratch_seconds", "saved_seconds",
           "speedup", "features_cached"]


def _curves(done: pd.DataFrame) -> dict[tuple, list[tuple[np.ndarray, np.ndarray]]]:
    """Per (variant, size): each run's validation accuracies and training seconds in epoch order. Read
    once, so each target below costs a few numpy comparisons instead of a pass over every epoch row
    (the same first crossing as ``frames.time_to_target``)."""
    ordered = done.sort_values(["variant", "size", "seed", "epoch"], kind="stable")
    variants, sizes, seeds = (ordered[c].to_numpy() for c in ("variant", "size", "seed"))
    acc = ordered["val_acc"].to_numpy(dtype=float)
    seconds = ordered["elapsed_train_seconds"].to_numpy(dtype=float)
    # sorted, each run's epochs are one slice: cut where variant, size or seed changes
    new_run = np.ones(len(ordered), dtype=bool)
    new_run[1:] = (variants[1:] != variants[:-1]) | (sizes[1:] != sizes[:-1]) | (seeds[1:] != seeds[:-1])
    starts = np.flatnonzero(new_run)
    out: dict[tuple, list] = {}
    for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True):
        out.setdefault((variants[a], int(sizes[a])), []).append((acc[a:b], seconds[a:b]))
    return out


def _median_reached(runs: list[tuple[np.ndarray, np.ndarray]], target: float) -> float:
    """Median training seconds at which validation accuracy first reached ``target``, over the runs
    that did; NaN unless at least half of them did."""
    reached = []
    for acc, seconds in runs:
        hit = np.flatnonzero(acc >= target)
        if len(hit) and not math.isnan(seconds[hit[0]]):
            reached.append(seconds[hit[0]])
    if not reached or len(reached) * 2 < len(runs):
        return float("nan")
    return float(np.median(reached))


def one_machine(epochs: pd.DataFrame, frame: pd.DataFrame | None) -> pd.DataFrame:
    """The epochs of runs trained on the experiment's timing machine (all of them without a record).
    ``.attrs["left_out"]``: how many runs were left out."""
    machine = timing_machine(frame) if frame is not None and not frame.empty else None
    if machine is None or epochs.empty:
        return epochs
    keys = ["variant", "size", "seed"]
    here = frame.loc[frame["machine"] == machine, keys].drop_duplicates()
    kept = epochs.merge(here, on=keys, how="inner")
    kept.attrs["left_out"] = int(len(frame[keys].drop_duplicates()) - len(here))
    return kept


def time_saved(epochs: pd.DataFrame, cached: set | None = None, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per pretrained variant and size that has finished runs of both arms (``COLUMNS``).

    ``cached``: (variant, size) of linear probes that trained on features computed once for the whole
    experiment; their seconds are the head's only, so no ratio is given for them. ``frame``: the runs
    frame, for each run's machine and the validation accuracy of the model it reports; without it
    every run counts and the target is the last epoch's validation accuracy."""
    if epochs.empty or "val_acc" not in epochs or "elapsed_train_seconds" not in epochs:
        return pd.DataFrame(columns=COLUMNS)
    epochs = one_machine(epochs, frame)
    done = epochs[epochs["status"] == "done"] if "status" in epochs else epochs
    reported = None
    if frame is not None and "val_acc" in frame:
        reported = frame[frame["status"] == "done"].groupby(["variant", "size", "seed"])["val_acc"].mean()
    rows = []
    curves = _curves(done)
    pre = done[done["arm"] == "pretrained"]
    finals = pre.sort_values("epoch", kind="stable").groupby(["variant", "size", "seed"])["val_acc"].last()
    scratch_sizes = sorted({int(s) for s in done.loc[done["arm"] == "scratch", "size"].unique()})
    for var in variant_order(pre["variant"]):
        for size in sorted(int(s) for s in pre.loc[pre["variant"] == var, "size"].unique()):
            own = finals.loc[(var, size)]
            if reported is not None:  # the reported model's accuracy, which may be an earlier epoch's
                own = pd.Series({seed: reported.get((var, size, seed), v) for seed, v in own.items()})
            target = float(own.mean())
            mine = _median_reached(curves[(var, size)], target)
            theirs, where = float("nan"), None
            larger = [n for n in scratch_sizes if n >= size]
            if not larger:
                continue
            for n in larger:
                theirs = _median_reached(curves[("scratch", n)], target)
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
