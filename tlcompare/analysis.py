"""From run records to the tables that answer the question: plain pandas in, pandas out.

A run record is the dict form of a RunResult (``arm, size, seed, freeze, final, epochs, ...``),
whether it came from ``tlcompare run``'s JSON or from the store.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

RUN_COLUMNS = ["arm", "variant", "size", "seed", "freeze", "model", "status", "trainable_params", "total_params", "n_train"]


def variant(arm: str, freeze) -> str:
    """The name of one line in the charts: scratch, pretrained at a depth, or the small CNN."""
    if arm == "pretrained":
        if freeze in (0, "0"):
            return "pretrained, fine-tune all"
        if freeze == "all":
            return "pretrained, linear probe"
        return f"pretrained, freeze {freeze}"
    return {"scratch": "scratch", "small_cnn": "small CNN (scratch)"}.get(arm, arm)


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run with its final metrics."""
    rows = []
    for r in runs:
        row = {k: r.get(k) for k in RUN_COLUMNS if k != "variant"}
        row["variant"] = variant(r["arm"], r.get("freeze"))
        row["freeze"] = "" if r.get("freeze") is None else str(r["freeze"])
        row.update(r.get("final") or {})
        rows.append(row)
    return pd.DataFrame(rows)


def epochs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run and epoch (long format, for learning curves and CSV export)."""
    rows = []
    for r in runs:
        base = {"arm": r["arm"], "variant": variant(r["arm"], r.get("freeze")), "size": r["size"], "seed": r["seed"],
                "freeze": "" if r.get("freeze") is None else str(r["freeze"]), "model": r.get("model"),
                "status": r.get("status")}
        for e in r.get("epochs", []):
            rows.append({**base, **e})
    return pd.DataFrame(rows)


def _ci95(values: np.ndarray) -> tuple[float, float]:
    """Half-width of the 95 % t-interval of the mean, and the standard deviation."""
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    sd = float(np.std(values, ddof=1))
    return float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)), sd


def summary(frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Mean, standard deviation and 95 % CI across seeds per variant and size."""
    done = frame[frame["status"] == "done"]
    rows = []
    for (var, size), g in done.groupby(["variant", "size"], sort=True):
        vals = g[metric].to_numpy(dtype=float)
        half, sd = _ci95(vals)
        rows.append({"variant": var, "size": int(size), "n_seeds": len(vals), "mean": float(vals.mean()),
                     "std": sd, "ci95": half, "train_seconds": float(g["train_seconds"].mean()),
                     "trainable_params": int(g["trainable_params"].iloc[0])})
    return pd.DataFrame(rows)


def paired_differences(frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Each other variant minus scratch, paired on the same size and seed (same subset, same schedule).

    Pairing removes the subset-to-subset variation that both arms share, so the interval is on
    the difference itself, not on two overlapping bands.
    """
    done = frame[frame["status"] == "done"]
    scratch = done[done["arm"] == "scratch"].set_index(["size", "seed"])[metric]
    rows = []
    for (var, size), g in done[done["arm"] != "scratch"].groupby(["variant", "size"], sort=True):
        g = g.set_index(["size", "seed"])[metric]
        common = g.index.intersection(scratch.index)
        if len(common) == 0:
            continue
        diffs = (g.loc[common] - scratch.loc[common]).to_numpy(dtype=float)
        half, sd = _ci95(diffs)
        if len(diffs) >= 2 and sd > 0:
            p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
        else:
            p = float("nan")
        rows.append({"variant": var, "size": int(size), "n_pairs": len(diffs), "mean_diff": float(diffs.mean()),
                     "std": sd, "ci95": half, "ci_low": float(diffs.mean() - half), "ci_high": float(diffs.mean() + half),
                     "p_value": p})
    return pd.DataFrame(rows)


def verdict(frame: pd.DataFrame, metric: str = "test_acc") -> list[str]:
    """Plain-language sentences: where the best pretrained variant wins, and where it stops mattering."""
    diffs = paired_differences(frame, metric)
    diffs = diffs[diffs["variant"].str.startswith("pretrained")]
    if diffs.empty:
        return ["No finished scratch/pretrained pairs yet."]
    lines = []
    for size, g in diffs.groupby("size", sort=True):
        best = g.loc[g["mean_diff"].idxmax()]
        n = int(best["n_pairs"])
        pts, ci = 100 * best["mean_diff"], 100 * best["ci95"]
        seeds = f"{n} seed{'s' if n != 1 else ''}"
        spread = f" +/- {ci:.1f}" if not math.isnan(ci) else ""
        if math.isnan(ci):
            lines.append(f"With {size} images per class, {best['variant']} differs from scratch by {pts:+.1f} points (1 seed: no interval).")
        elif best["ci_low"] > 0:
            lines.append(f"With {size} images per class, {best['variant']} wins by {pts:.1f}{spread} points ({seeds}).")
        elif best["ci_high"] < 0:
            lines.append(f"With {size} images per class, scratch wins: the best pretrained variant ({best['variant']}) is behind by {-pts:.1f}{spread} points ({seeds}).")
        else:
            lines.append(f"With {size} images per class, the difference is within noise ({pts:+.1f}{spread} points, {seeds}).")
    return lines
