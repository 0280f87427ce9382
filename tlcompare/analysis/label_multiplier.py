"""The label multiplier: how many images per class scratch needs to match a pretrained variant.

For each pretrained variant and measured size N: n* is where scratch's learning curve (test
accuracy against images per class, fitted over every seed by ``curve_fits``) reaches the variant's
mean accuracy at N, and K = n* / N: "pretraining is worth K x your labels" (the effective data
transferred of Hernandez et al. 2021, per size).

The 95 % interval resamples seeds (the same seeds for both arms, as they are paired), refits
scratch's curve with the form chosen on the full data and recomputes K. With a handful of seeds
the plain percentile interval is too narrow, so the percentiles are widened as in Hesterberg's
expanded percentile interval: the distances of the percentiles from the estimate (in log K) are
scaled by the t quantile for the number of seeds over the normal one;
with one seed there is no interval.

Each estimate says how it was reached: ``interpolated`` (n* inside the measured scratch sizes),
``extrapolated`` (the power law projected beyond them, with the factor; naive projection
misjudges such numbers, Mahmood et al. 2022, so more than 3x past the largest size is flagged),
``not reached`` (the variant is at or above scratch's fitted ceiling), ``above range`` /
``below range`` (interpolation only, outside the measured sizes: a bound, not a number), or
``flat`` (scratch does not improve with more images here: no multiplier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tlcompare.analysis import curve_fits
from tlcompare.analysis.frames import variant_order

N_BOOT = 1000
FAR = 3.0  # a projection more than this many times past the largest measured size is flagged
COLUMNS = ["variant", "size", "n_seeds", "target_acc", "n_star", "k", "k_low", "k_high", "case", "form",
           "beyond_factor", "far", "scratch_ceiling", "scratch_min_size", "scratch_max_size", "mean_diff"]


def expansion(n_seeds: int, alpha: float = 0.05) -> float:
    """How much wider than the plain bootstrap percentiles the interval is drawn for ``n_seeds``: the
    t quantile over the normal one, times sqrt(n / (n - 1)) for the bootstrap's divisor n."""
    return float(math.sqrt(n_seeds / (n_seeds - 1)) * stats.t.ppf(1 - alpha / 2, n_seeds - 1) / stats.norm.ppf(1 - alpha / 2))


def _seed_weights(n_seeds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Seeds x resamples: how often each seed is drawn in each resample."""
    draws = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    w = np.zeros((n_seeds, n_boot))
    np.add.at(w, (draws, np.arange(n_boot)[:, None]), 1.0)
    return w


def _weighted_means(acc: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows of ``acc`` (sizes x seeds, NaN where a run is missing) averaged with seed weights ``w``
    (seeds x resamples); a row none of whose seeds was drawn keeps its plain mean."""
    present = ~np.isnan(acc)
    total = np.where(present, acc, 0.0) @ w
    count = present.astype(float) @ w
    plain = np.nanmean(acc, axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), plain)


def estimate(sizes, scratch_acc, target_acc, size: int, n_boot: int = N_BOOT, seed: int = 0,
             form: str | None = None) -> dict:
    """K for one variant at one size.

    ``sizes``: scratch's measured sizes (ascending); ``scratch_acc``: sizes x seeds (NaN where
    missing); ``target_acc``: the variant's accuracy at ``size`` per seed (NaN where missing), seeds
    in the same order. Returns the row of ``COLUMNS`` without variant and mean_diff.
    """
    n = np.asarray(sizes, dtype=float)
    acc = np.asarray(scratch_acc, dtype=float)
    target = np.asarray(target_acc, dtype=float)
    seeds_here = int((~np.isnan(target)).sum())
    w_fit = (~np.isnan(acc)).sum(axis=1).astype(float)
    means = np.nanmean(acc, axis=1)
    chosen, _ = (form, {}) if form else curve_fits.choose_form(n, means, w_fit)
    goal = float(np.nanmean(target))
    n_star = float(curve_fits.inverse(chosen, n, means, w_fit, goal)[0]) if rises(acc) else float("nan")
    row = {"size": int(size), "n_seeds": seeds_here, "target_acc": goal, "n_star": n_star, "form": chosen,
           "k": n_star / size,
           "scratch_min_size": int(n[0]), "scratch_max_size": int(n[-1]),
           "scratch_ceiling": float(curve_fits.fit_power(n, means, w_fit)["a"][0]) if chosen == "power" else float("nan")}
    row.update(_case(chosen, n_star, n))
    row["k_low"], row["k_high"] = _interval(chosen, n, acc, target, w_fit, size, n_boot, seed, row["k"])
    return row


MIN_RISE = 0.005  # half a point: less than this from the smallest to the largest size is flat


def rises(acc: np.ndarray) -> bool:
    """Whether scratch's accuracy (sizes x seeds) grows over the measured sizes by more than seed noise
    can make: the isotonic means' rise against MIN_RISE and twice the standard error of a difference of
    two size means (pooled over sizes). A flat curve reaches any target at an arbitrary size."""
    counts = (~np.isnan(acc)).sum(axis=1)
    iso = curve_fits.isotonic(np.nanmean(acc, axis=1), counts)[:, 0]
    several = counts >= 2
    noise = 0.0
    if several.any():
        pooled = np.nansum(np.nanvar(acc[several], axis=1, ddof=1) * (counts[several] - 1)) / (counts[several] - 1).sum()
        noise = 2 * math.sqrt(2 * pooled / counts[several].mean())
    return bool(iso[-1] - iso[0] > max(MIN_RISE, noise))


def _case(form: str, n_star: float, n: np.ndarray) -> dict:
    beyond = float("nan")
    if math.isnan(n_star):
        case = "flat"
    elif form == "interp":
        case = "above range" if n_star == math.inf else "below range" if n_star == -math.inf else "interpolated"
    elif math.isinf(n_star):
        case = "not reached"
    elif n_star > n[-1] * (1 + 1e-9):
        case, beyond = "extrapolated", n_star / n[-1]
    elif n_star < n[0] * (1 - 1e-9):
        case, beyond = "extrapolated", n_star / n[0]
    else:
        case = "interpolated"
    far = bool(case == "extrapolated" and (beyond > FAR or beyond < 1 / FAR))
    return {"case": case, "beyond_factor": beyond, "far": far}


def _interval(form, n, acc, target, w_fit, size, n_boot, seed, point) -> tuple[float, float]:
    """The 95 % bootstrap interval of K over seeds, in log K: the percentiles' distances from the
    estimate widened by ``expansion``; NaN, NaN with one seed or where too many resamples leave
    scratch flat to say. Infinite bounds stay infinite (not reached / below the measured range)."""
    paired = ~np.isnan(target)
    n_seeds = int(max(paired.sum(), 0))
    if n_seeds < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    w = _seed_weights(acc.shape[1], n_boot, rng)
    curves = _weighted_means(acc, w)
    goals = _weighted_means(target[None, :], w)[0]
    ks = curve_fits.inverse(form, n, curves, w_fit, goals) / size
    if np.isnan(ks).mean() > 0.025:
        return float("nan"), float("nan")
    kept = np.sort(ks[~np.isnan(ks)])
    lo_i, hi_i = int(math.floor(0.025 * (len(kept) - 1))), int(math.ceil(0.975 * (len(kept) - 1)))
    with np.errstate(divide="ignore"):
        logs = np.log(np.where(kept < 0, 0.0, kept))  # -inf: below the measured range
    lo_q, hi_q = logs[lo_i], logs[hi_i]
    centre = math.log(point) if math.isfinite(point) and point > 0 else float(np.median(logs))
    if not math.isfinite(centre):  # most resamples outside the measured range: their bounds as they are
        return float(kept[lo_i]), float(kept[hi_i])
    f = expansion(n_seeds)
    lo = centre - f * max(centre - lo_q, 0.0)
    hi = centre + f * max(hi_q - centre, 0.0)
    return (-math.inf if lo_q == -math.inf else float(np.exp(lo))), float(np.exp(hi))


def _matrix(done: pd.DataFrame, metric: str, seeds: list) -> tuple[list[int], np.ndarray]:
    table = done.pivot_table(index="size", columns="seed", values=metric, aggfunc="mean")
    table = table.reindex(columns=seeds).sort_index()
    return [int(s) for s in table.index], table.to_numpy(dtype=float)


def multipliers(frame: pd.DataFrame, metric: str = "test_acc", n_boot: int = N_BOOT) -> pd.DataFrame:
    """One row per pretrained variant and measured size (``COLUMNS``); empty without scratch at two or
    more sizes. Deterministic: the resampling is seeded, so every page and report shows the same interval."""
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=COLUMNS)
    done = frame[(frame["status"] == "done") & frame[metric].notna()]
    scratch = done[done["arm"] == "scratch"]
    seeds = sorted(done["seed"].unique())
    sizes, acc = _matrix(scratch, metric, seeds) if not scratch.empty else ([], np.empty((0, 0)))
    if len(sizes) < 2:
        return pd.DataFrame(columns=COLUMNS)
    form, _ = curve_fits.choose_form(np.asarray(sizes, float), np.nanmean(acc, axis=1), (~np.isnan(acc)).sum(axis=1))
    rows = []
    pre = done[done["arm"] == "pretrained"]
    for i, var in enumerate(v for v in variant_order(pre["variant"]) if v.startswith("pretrained")):
        g = pre[pre["variant"] == var]
        for size in sorted(int(s) for s in g["size"].unique()):
            at = g[g["size"] == size].groupby("seed")[metric].mean().reindex(seeds).to_numpy(dtype=float)
            row = {"variant": var, **estimate(sizes, acc, at, size, n_boot, seed=1000 * i + size, form=form)}
            here = scratch[scratch["size"] == size].groupby("seed")[metric].mean().reindex(seeds).to_numpy(dtype=float)
            both = ~np.isnan(here) & ~np.isnan(at)
            row["mean_diff"] = float((at[both] - here[both]).mean()) if both.any() else float("nan")
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


# -- the words --------------------------------------------------------------------------------------
def _k(x: float) -> str:
    return f"{x:.2g}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _n(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}" if x < 1000 else f"{x:,.0f}"


def _interval_text(r) -> str:
    """'95 % interval 70 to 180' in images per class; '' where every resample is beyond the measured sizes."""
    lo, hi, size = r["k_low"], r["k_high"], r["size"]
    if r["n_seeds"] < 2:
        return "1 seed: no interval"
    if math.isnan(lo):
        return "no interval: too many seed resamples leave scratch flat"
    if lo == math.inf or hi == -math.inf:  # every resample beyond the same end: the sentence says it
        return ""

    def images(k: float) -> str:
        if k == math.inf:
            return "never" if r["form"] == "power" else f"beyond {r['scratch_max_size']}"
        if k == -math.inf:
            return f"fewer than {r['scratch_min_size']}"
        return _n(k * size)

    return f"95 % interval {images(lo)} to {images(hi)}"


def _with(interval: str) -> str:
    return f" ({interval})" if interval else ""


def _short(variant: str) -> str:
    return variant.removeprefix("pretrained, ")


def sentence(r) -> str:
    """One variant at one size, in plain words, with the interval and how the number was reached."""
    size, name = int(r["size"]), _short(r["variant"])
    acc = f"{100 * r['target_acc']:.1f} %"
    head = f"With {size} labelled image{'s' if size != 1 else ''} per class, pretrained ({name})"
    interval = _interval_text(r)
    case = r["case"]
    if case == "flat":
        return (f"{head} reaches {acc}; scratch's accuracy does not grow with more images over the measured sizes "
                f"({r['scratch_min_size']} to {r['scratch_max_size']} per class) by more than seed noise, so no label "
                "multiplier can be given.")
    if case == "not reached":
        return (f"{head} reaches {acc}, at or above scratch's fitted ceiling ({100 * r['scratch_ceiling']:.1f} %): "
                f"scratch does not reach this accuracy with any amount of data we can project{_with(interval)}.")
    if case == "above range":
        return (f"{head} reaches {acc}, more than scratch with the most images measured ({r['scratch_max_size']} "
                f"per class): pretraining is worth more than {_k(r['scratch_max_size'] / size)}x your labels; too few "
                f"sizes to project further{_with(interval)}.")
    if case == "below range":
        return (f"{head} reaches {acc}, less than scratch with the fewest images measured ({r['scratch_min_size']} "
                f"per class): pretraining is worth less than {_k(r['scratch_min_size'] / size)}x your labels, "
                f"worse than training from scratch{_with(interval)}.")
    k = r["k"]
    text = f"{head} is as good as scratch with about {_n(r['n_star'])}{_with(interval)}: "
    if k < 1 - 1e-9:
        text += f"pretraining is worth only {_k(k)}x your labels, worse than training from scratch"
    else:
        text += f"pretraining is worth about {_k(k)}x your labels"
    if case == "extrapolated":
        if r["beyond_factor"] >= 1:
            text += (f" (extrapolated {_k(r['beyond_factor'])}x beyond the largest size measured, "
                     f"{r['scratch_max_size']} per class")
        else:
            text += f" (extrapolated below the smallest size measured, {r['scratch_min_size']} per class"
        text += "; a projection that far is unreliable)" if r["far"] else ")"
    return text + "."


def lead(table: pd.DataFrame, best: pd.DataFrame | None = None) -> str:
    """The sentence that leads Results: the best variant at the smallest size. ``best`` is the
    verdict's ``best_per_size`` (the one place the best variant is chosen), so the lead and the verdict
    name the same variant; without it, ``best_per_size`` ranks the table's own paired gains."""
    from tlcompare.analysis.verdict import best_per_size

    if table.empty:
        return ""
    if best is not None and not best.empty:
        chosen = set(zip(best["variant"], best["size"], strict=True))
        rows = table[[(v, s) in chosen for v, s in zip(table["variant"], table["size"], strict=True)]]
        if not rows.empty:
            return sentence(rows.sort_values("size").iloc[0])
    known = table[table["mean_diff"].notna()]
    best = best_per_size(known) if not known.empty else table.sort_values("size")
    return sentence(best.iloc[0])


def lines(table: pd.DataFrame) -> list[str]:
    """Every variant at every size, smallest size first."""
    order = {v: i for i, v in enumerate(variant_order(table["variant"]))} if not table.empty else {}
    ordered = table.assign(_o=table["variant"].map(order)).sort_values(["size", "_o"]) if not table.empty else table
    return [sentence(r) for _, r in ordered.iterrows()]


def method_text(table: pd.DataFrame) -> str:
    """How the multiplier was computed, in one line."""
    if table.empty:
        return ""
    form = {"power": "the power law a - b n^-c", "interp": "monotone interpolation in log n"}[table["form"].iloc[0]]
    return (f"Label multiplier K = n*/N: n* images per class is where scratch's learning curve ({form}, chosen by "
            "leave-one-size-out error over the measured sizes) reaches the variant's mean test accuracy at N. "
            f"Interval: seeds resampled {N_BOOT} times with the curve refitted (95 %, widened for few seeds by the t "
            "quantile).")


def why_none(frame: pd.DataFrame, metric: str = "test_acc") -> str:
    """Why there is no multiplier, or ''."""
    if frame.empty or metric not in frame:
        return "No label multiplier yet: no finished runs."
    done = frame[frame["status"] == "done"]
    n_scratch = done.loc[done["arm"] == "scratch", "size"].nunique()
    if n_scratch < 2:
        return "No label multiplier: it needs scratch finished at two or more sizes to draw its learning curve."
    if not (done["arm"] == "pretrained").any():
        return "No label multiplier: no finished pretrained run."
    return ""


@dataclass
class Multiplier:
    """Everything a face shows: the table, the lead sentence, one line per variant and size, the time
    saved lines, how it was computed, or why there is none."""
    table: pd.DataFrame = field(repr=False)
    times: pd.DataFrame = field(repr=False)
    lead: str
    lines: list[str]
    time_lines: list[str]
    method: str
    missing: str  # why there is no multiplier; '' when there is one


def build(frame: pd.DataFrame, epochs: pd.DataFrame | None = None, metric: str = "test_acc",
          runs: list[dict] | None = None, best: pd.DataFrame | None = None) -> Multiplier:
    """The multiplier of one experiment from its runs frame (``analysis.runs_frame``) and, for the time
    saved, its epochs frame (``analysis.epochs_frame``) and run records (which say where a linear probe
    trained on cached features). ``best``: the verdict's best variant per size, for the lead."""
    from tlcompare.analysis.frames import variant
    from tlcompare.analysis.time_saved import time_line, time_saved

    table = multipliers(frame, metric)
    cached = {(variant(r["arm"], r.get("freeze")), r["size"]) for r in runs or [] if r.get("feature_cache")}
    times = time_saved(epochs, cached) if epochs is not None and not epochs.empty else pd.DataFrame()
    return Multiplier(table=table, times=times, lead=lead(table, best), lines=lines(table),
                      time_lines=[time_line(r) for _, r in times.iterrows()], method=method_text(table),
                      missing="" if not table.empty else why_none(frame, metric))


def export_rows(table: pd.DataFrame) -> list[dict]:
    """The table for JSON: one dict per variant and size, infinite bounds as the strings 'inf' / '-inf'
    (JSON has no infinity; null would read as 'unknown')."""
    def value(v):
        if isinstance(v, float | np.floating) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v.item() if isinstance(v, np.generic) else v

    return [{k: value(v) for k, v in r.items()} for r in table.to_dict("records")]


# CSV: the multiplier of a run's variant and size, on each of its rows (scratch rows stay empty).
CSV_NAMES = {"n_star": "label_multiplier_n_star", "k": "label_multiplier", "k_low": "label_multiplier_low",
             "k_high": "label_multiplier_high", "case": "label_multiplier_case"}


def csv_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``variant, size`` and the ``CSV_NAMES`` columns, to merge onto per-run rows."""
    return table[["variant", "size", *CSV_NAMES]].rename(columns=CSV_NAMES)
