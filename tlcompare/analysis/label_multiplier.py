"""The label multiplier: how many images per class scratch needs to match a pretrained variant.

For each pretrained variant and measured size N: n* is where scratch's learning curve reaches what
the variant measured at N, walked from what scratch itself measured at N (``anchored``): the paired
gap g (variant minus scratch, over the seeds both have) moves n* along scratch's curve from N, up for
a gain and down for a loss, so a gap of zero gives n* = N and K = 1 whatever the curve's shape.
K = n* / N: "pretraining is worth K x your labels" (the effective data transferred of Hernandez et
al. 2021, per size). Inside the measured sizes the curve is monotone interpolation through scratch's
means; past the largest size M it is the power law's shape anchored at scratch's point at M. Both
forms are fixed in advance: nothing is chosen on the test set.

The 95 % interval resamples seeds (the same seeds for both arms, as they are paired), redraws the
curve and the gap in every resample, and past the largest size adds the power law's own misfit: its
residuals at the measured sizes, with random signs (a wild residual bootstrap), are added to the
means it is fitted to. With a handful of seeds the plain percentile interval is too narrow, so the
percentiles are widened as in Hesterberg's expanded percentile interval (the distances from the
estimate, in log K, scaled by the t quantile for the number of seeds over the normal one); with one
seed there is no interval.

How far a number is given: a projection goes at most ``projection_limit`` times past the largest
size (2x with fewer than 5 seeds, 3x with 5 or more, where the coverage measured on curves of known
shape holds, docs/validation.md); beyond it the answer is a bound ("more than ..."). Each estimate
says how it was reached: ``interpolated``, ``extrapolated`` (within the limit, with the factor),
``beyond projection`` (a bound), ``not reached`` (only when the upper end of the interval of
scratch's projected ceiling lies below the variant's accuracy), ``above range`` (too few sizes to
project: a bound), ``below range`` (the variant is below scratch at the smallest size: a bound), or
``flat`` (scratch does not improve with more images here: no multiplier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tlcompare.analysis import anchored, curve_fits
from tlcompare.analysis.frames import variant_order

N_BOOT = 1000
SEED = 0  # of the seed resamples: every page, report and `show` draws the same ones
COLUMNS = ["variant", "size", "n_seeds", "target_acc", "scratch_acc", "gap", "n_star", "k", "k_low", "k_high",
           "case", "beyond_factor", "limit", "scratch_ceiling", "ceiling_high", "scratch_min_size",
           "scratch_max_size", "mean_diff"]


def projection_limit(n_seeds: int) -> float:
    """How many times past the largest measured size a number is still given."""
    return 3.0 if n_seeds >= 5 else 2.0


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


# The interval's second form past the largest size: the power law made to level off at least this fast.
# Fitted on sizes where a curve has not yet met its ceiling, the free law tends to place the ceiling
# too high (a logistic curve in log n is one such shape, docs/validation.md); this form places it
# lower, so the interval spans both and the spread between the forms carries the misfit.
C_FAST = 1.0


@dataclass
class _Walk:
    """One walk along a curve: the point estimate and its resamples (``n_low`` and ``n_high`` per
    resample: the nearer and the farther of the two forms' answers past the largest size)."""
    n_star: float
    goal: float  # the accuracy walked to, on the curve's own scale
    level: float  # the curve's own value where the walk starts
    ceiling: float
    n_low: np.ndarray
    n_high: np.ndarray
    ceilings: np.ndarray


def _walk(n, acc, start: int, n_boot: int, rng: np.random.Generator, diffs=None, goal=None) -> _Walk:
    """Walk the curve of ``acc`` (sizes x seeds) from ``n[start]`` by the paired ``diffs`` (per seed, NaN
    where unpaired) or to the fixed accuracy ``goal``, for all seeds and for ``n_boot`` seed resamples.
    Past the largest size each resample is walked under two forms (the free power law and one that
    levels off at least as fast as ``C_FAST``), with the full fit's residuals added to the means with
    random signs (a wild residual bootstrap), so a form that misses the measured points widens it."""
    w_fit = (~np.isnan(acc)).sum(axis=1).astype(float)
    means = np.nanmean(acc, axis=1)
    gap = float(np.nanmean(diffs)) if diffs is not None else None
    point = anchored.reach(n, means, w_fit, start, goal=goal, gap=gap)
    w = _seed_weights(acc.shape[1], n_boot, rng)
    curves = _weighted_means(acc, w)
    gaps = _weighted_means(np.asarray(diffs, dtype=float)[None, :], w)[0] if diffs is not None else None
    project = None
    if len(n) >= anchored.MIN_SIZES_TO_PROJECT:
        col = means[:, None]  # the point walk's projection fitted exactly this: its fit, remembered, is reused
        fit = anchored.remembered("power", (n, col, w_fit), 0.0, lambda: curve_fits.fit_power(n, col, w_fit, 0.0))
        resid = means - curve_fits.power_value(fit, n)[:, 0]
        project = curves + resid[:, None] * rng.choice([-1.0, 1.0], size=curves.shape)
    boot = anchored.reach(n, curves, w_fit, start, goal=goal, gap=gaps, project_means=project)
    fast = anchored.reach(n, curves, w_fit, start, goal=goal, gap=gaps, project_means=project, c_min=C_FAST)
    level = float(curve_fits.isotonic(means, w_fit)[start, 0])
    return _Walk(float(point["n_star"][0]), float(point["goal"][0]), level, float(point["ceiling"][0]),
                 np.minimum(boot["n_star"], fast["n_star"]), np.maximum(boot["n_star"], fast["n_star"]),
                 boot["ceiling"])


def _upper(point: float, resampled: np.ndarray, f: float) -> float:
    """The upper end of an expanded percentile interval of a plain (not log) quantity."""
    kept = resampled[np.isfinite(resampled)]
    if not math.isfinite(point) or len(kept) < 0.975 * len(resampled):
        return float("nan")
    return point + f * max(float(np.quantile(kept, 0.975)) - point, 0.0)


def _case(walk: _Walk, n: np.ndarray, n_seeds: int) -> dict:
    """How n* was reached (see the module's docstring) and how far past the largest size it went."""
    ns, top = walk.n_star, n[-1]
    limit = projection_limit(n_seeds)
    f = expansion(n_seeds) if n_seeds >= 2 else 1.0
    ceiling_high = _upper(walk.ceiling, walk.ceilings, f) if n_seeds >= 2 else walk.ceiling
    beyond = float("nan")
    if ns == -math.inf:
        case = "below range"
    elif math.isnan(ns):
        case = "above range"
    elif ns == math.inf:
        case = "not reached" if math.isfinite(ceiling_high) and ceiling_high < walk.goal else "beyond projection"
    elif ns > top * (1 + 1e-9):
        beyond = ns / top
        case = "extrapolated" if beyond <= limit else "beyond projection"
    else:
        case = "interpolated"
    return {"case": case, "beyond_factor": beyond, "limit": limit, "scratch_ceiling": walk.ceiling,
            "ceiling_high": ceiling_high}


BOUNDS = {"below range", "above range", "beyond projection"}  # the number given is a bound, not an estimate


def _interval(point: float, lows: np.ndarray, highs: np.ndarray, n_seeds: int, k_min: float,
              k_max: float) -> tuple[float, float]:
    """The 95 % bootstrap interval of K over seeds, in log K: the lower end from ``lows``, the upper from
    ``highs`` (per resample, the two forms' nearer and farther answers), their distances from the
    estimate widened by ``expansion``; NaN, NaN with one seed or where too many resamples leave
    scratch flat to say. -inf: the lower end falls below the smallest measured size; inf: the upper
    end lies past what may be projected (``k_min`` and ``k_max`` are those two ends as multipliers)."""
    if n_seeds < 2 or np.isnan(lows).mean() > 0.025:
        return float("nan"), float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        low_logs = np.sort(np.log(np.where(lows < 0, 0.0, lows))[~np.isnan(lows)])
        high_logs = np.sort(np.log(np.where(highs < 0, 0.0, highs))[~np.isnan(highs)])
    lo_q = low_logs[int(math.floor(0.025 * (len(low_logs) - 1)))]
    hi_q = high_logs[int(math.ceil(0.975 * (len(high_logs) - 1)))]
    centre = math.log(point) if math.isfinite(point) and point > 0 else float(np.median(low_logs))
    if not math.isfinite(centre):  # most resamples outside what may be said: the bounds as they are
        lo, hi = float(np.exp(lo_q)), float(np.exp(hi_q))
    else:
        f = expansion(n_seeds)
        lo = -math.inf if lo_q == -math.inf else float(np.exp(centre - f * max(centre - lo_q, 0.0)))
        hi = math.inf if hi_q == math.inf else float(np.exp(centre + f * max(hi_q - centre, 0.0)))
    lo = -math.inf if lo < k_min * (1 - 1e-9) else lo
    hi = math.inf if hi > k_max * (1 + 1e-9) else hi
    return lo, hi


def _bound_size(case: str, n: np.ndarray, limit: float, low: float) -> float:
    """The size a bound names: fewer than the smallest measured; more than the largest (too few sizes to
    project); past the projection limit, more than the lower end of the interval (``low``, a size) or
    the limit itself, whichever is smaller, so the bound holds wherever the interval does."""
    if case == "below range":
        return float(n[0])
    if case == "above range":
        return float(n[-1])
    return min(limit * n[-1], low) if math.isfinite(low) and low > n[-1] else float(n[-1])


def estimate(sizes, scratch_acc, target_acc, size: int, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """K for one variant at one size that scratch measured too.

    ``sizes``: scratch's measured sizes (ascending); ``scratch_acc``: sizes x seeds (NaN where
    missing); ``target_acc``: the variant's accuracy at ``size`` per seed (NaN where missing), seeds
    in the same order. Returns the row of ``COLUMNS`` without variant and mean_diff."""
    n = np.asarray(sizes, dtype=float)
    acc = np.asarray(scratch_acc, dtype=float)
    target = np.asarray(target_acc, dtype=float)
    start = int(np.flatnonzero(n == size)[0])
    diffs = target - acc[start]
    n_seeds = int((~np.isnan(diffs)).sum())
    if n_seeds == 0:  # no seed in common: the means' difference, unpaired
        diffs = np.full_like(target, np.nanmean(target) - np.nanmean(acc[start]))
        n_seeds = 1
    base = {"size": int(size), "n_seeds": n_seeds, "target_acc": float(np.nanmean(target)),
            "scratch_min_size": int(n[0]), "scratch_max_size": int(n[-1]), "gap": float(np.nanmean(diffs))}
    if not rises(acc):
        return {**base, "scratch_acc": float(np.nanmean(acc[start])), "n_star": float("nan"), "k": float("nan"),
                "k_low": float("nan"), "k_high": float("nan"), "case": "flat", "beyond_factor": float("nan"),
                "limit": projection_limit(n_seeds), "scratch_ceiling": float("nan"), "ceiling_high": float("nan")}
    walk = _walk(n, acc, start, n_boot, np.random.default_rng(seed), diffs=diffs)
    row = {**base, "scratch_acc": walk.level, "n_star": walk.n_star, **_case(walk, n, n_seeds)}
    row["k_low"], row["k_high"] = _interval(walk.n_star / size, walk.n_low / size, walk.n_high / size, n_seeds,
                                            n[0] / size, row["limit"] * n[-1] / size)
    if row["case"] in BOUNDS:  # k is the bound the sentence names
        row["k"] = _bound_size(row["case"], n, row["limit"], row["k_low"] * size) / size
    else:
        row["k"] = walk.n_star / size
    return row


def _matrix(done: pd.DataFrame, metric: str, seeds: list) -> tuple[list[int], np.ndarray]:
    """Sizes (ascending) and the mean ``metric`` per size and seed (sizes x ``seeds``, NaN where none)."""
    size_of = done["size"].to_numpy()
    sizes = np.unique(size_of)
    column = {s: j for j, s in enumerate(seeds)}
    rows = np.searchsorted(sizes, size_of)
    cols = np.array([column[s] for s in done["seed"]], dtype=int)
    total, count = np.zeros((len(sizes), len(seeds))), np.zeros((len(sizes), len(seeds)))
    np.add.at(total, (rows, cols), done[metric].to_numpy(dtype=float))
    np.add.at(count, (rows, cols), 1.0)
    with np.errstate(invalid="ignore"):
        return [int(s) for s in sizes], np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def multipliers(frame: pd.DataFrame, metric: str = "test_acc", n_boot: int = N_BOOT) -> pd.DataFrame:
    """One row per pretrained variant and size that scratch measured too (``COLUMNS``); empty without
    scratch at two or more sizes. Deterministic: the resampling is seeded, so every page and report
    shows the same interval."""
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=COLUMNS)
    done = frame[(frame["status"] == "done") & frame[metric].notna()]
    scratch = done[done["arm"] == "scratch"]
    seeds = sorted(done["seed"].unique())
    sizes, acc = _matrix(scratch, metric, seeds) if not scratch.empty else ([], np.empty((0, 0)))
    if len(sizes) < 2:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    pre = done[done["arm"] == "pretrained"]
    # One set of seed resamples for every variant and size (each walk pairs them with its own gaps):
    # scratch's resampled curves and their fits are then the same in every walk and computed once.
    with anchored.shared_curves():
        for var in (v for v in variant_order(pre["variant"]) if v.startswith("pretrained")):
            own_sizes, own = _matrix(pre[pre["variant"] == var], metric, seeds)
            for i, size in enumerate(own_sizes):
                if size not in sizes:
                    continue
                row = {"variant": var, **estimate(sizes, acc, own[i], size, n_boot, seed=SEED)}
                row["mean_diff"] = row["gap"]
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


# -- labels to a target accuracy ---------------------------------------------------------------------
TARGET_COLUMNS = ["arm", "target_acc", "n_seeds", "n_star", "n_low", "n_high", "case", "limit", "min_size", "max_size"]


def labels_to_target(frame: pd.DataFrame, target: float | None = None, metric: str = "test_acc",
                     n_boot: int = N_BOOT) -> pd.DataFrame:
    """Images per class each arm needs to reach ``target`` accuracy (default: the best mean any
    pretrained variant measured), read off each arm's own curve (the same curves as the multiplier's),
    with the seed-resampled 95 % interval. One row per arm (scratch and each pretrained variant) that
    measured two or more sizes (``TARGET_COLUMNS``)."""
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    done = frame[(frame["status"] == "done") & frame[metric].notna()]
    if target is None:
        pre = done[done["arm"] == "pretrained"]
        if pre.empty:
            return pd.DataFrame(columns=TARGET_COLUMNS)
        target = float(pre.groupby(["variant", "size"])[metric].mean().max())
    seeds = sorted(done["seed"].unique())
    # The multiplier's seed resamples (SEED): scratch's resampled curve and its fits are then the ones
    # the multiplier computed, remembered by anchored.shared_curves, not computed again.
    with anchored.shared_curves():
        return _targets(done, variant_order(done["variant"]), seeds, target, metric, n_boot)


def _targets(done: pd.DataFrame, variants: list[str], seeds: list, target: float, metric: str,
             n_boot: int) -> pd.DataFrame:
    rows = []
    for var in variants:
        sizes, acc = _matrix(done[done["variant"] == var], metric, seeds)
        if len(sizes) < 2:
            continue
        n = np.asarray(sizes, dtype=float)
        n_seeds = int((~np.isnan(acc)).sum(axis=0).astype(bool).sum())
        limit = projection_limit(n_seeds)
        row = {"arm": var, "target_acc": float(target), "n_seeds": n_seeds, "limit": limit,
               "min_size": int(n[0]), "max_size": int(n[-1])}
        if not rises(acc):
            rows.append({**row, "n_star": float("nan"), "n_low": float("nan"), "n_high": float("nan"), "case": "flat"})
            continue
        walk = _walk(n, acc, 0, n_boot, np.random.default_rng(SEED), goal=target)
        case = _case(walk, n, n_seeds)["case"]
        lo, hi = _interval(walk.n_star, walk.n_low, walk.n_high, n_seeds, n[0], limit * n[-1])
        point = _bound_size(case, n, limit, lo) if case in BOUNDS else walk.n_star
        rows.append({**row, "n_star": point, "n_low": lo, "n_high": hi, "case": case})
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


def _needs(r) -> str:
    """'needs about 120 per class (95 % interval 80 to 200)', or the bound the measured sizes allow."""
    case = r["case"]
    if case == "flat":
        return "cannot be told (its accuracy does not grow over the measured sizes by more than seed noise)"
    if case == "not reached":
        return "does not get there (the upper end of its projected ceiling's interval is below the target)"
    if case == "below range":
        return f"needs {_n(r['min_size'])} or fewer per class (already there at its smallest size)"
    if case in ("above range", "beyond projection"):
        return f"needs more than {_n(r['n_star'])} per class (the measured sizes cannot tell how many)"
    text = f"needs about {_n(r['n_star'])} per class"
    lo, hi = r["n_low"], r["n_high"]
    if r["n_seeds"] < 2:
        return text + " (1 seed: no interval)"
    if math.isnan(lo):
        return text + " (no interval: too many seed resamples fall past what the measured sizes can tell)"
    low = f"fewer than {_n(r['min_size'])}" if lo == -math.inf else _n(lo)
    high = f"more than {_n(r['limit'] * r['max_size'])}" if hi == math.inf else _n(hi)
    return text + f" ({'extrapolated; ' if case == 'extrapolated' else ''}95 % interval {low} to {high})"


def target_line(table: pd.DataFrame) -> str:
    """'To reach 93.1 % test accuracy: scratch needs about 120 per class (95 % interval 80 to 200); fine-tune
    all needs about 35 per class (...).'"""
    if table.empty:
        return ""
    parts = [f"{_short(r['arm'])} {_needs(r)}" for _, r in table.iterrows()]
    return f"To reach {100 * table['target_acc'].iloc[0]:.1f} % test accuracy: " + "; ".join(parts) + "."


# -- the words --------------------------------------------------------------------------------------
def _k(x: float) -> str:
    return f"{x:.2g}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _n(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}" if x < 1000 else f"{x:,.0f}"


def _interval_text(r) -> str:
    """'95 % interval 70 to 180' in images per class."""
    lo, hi, size = r["k_low"], r["k_high"], r["size"]
    if r["n_seeds"] < 2:
        return "1 seed: no interval"
    if math.isnan(lo):
        return "no interval: too many seed resamples leave scratch flat"
    low = f"fewer than {_n(r['scratch_min_size'])}" if lo == -math.inf else _n(lo * size)
    high = f"more than {_n(r['limit'] * r['scratch_max_size'])}" if hi == math.inf else _n(hi * size)
    return f"95 % interval {low} to {high}"


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
        return (f"{head} reaches {acc}, above what scratch can reach with any amount of data we can project (the upper "
                f"end of its ceiling's 95 % interval is {100 * r['ceiling_high']:.1f} %).")
    if case == "above range":
        return (f"{head} reaches {acc}, more than scratch with the most images measured ({r['scratch_max_size']} "
                f"per class): pretraining is worth more than {_k(r['k'])}x your labels; too few "
                f"sizes to project further.")
    if case == "beyond projection":
        return (f"{head} reaches {acc}: scratch would need more than {_n(r['k'] * size)} per class, and the measured "
                f"sizes (up to {r['scratch_max_size']}) cannot tell how many more: pretraining is worth more than "
                f"{_k(r['k'])}x your labels.")
    if case == "below range":
        return (f"{head} reaches {acc}, less than scratch with the fewest images measured ({r['scratch_min_size']} "
                f"per class): pretraining is worth less than {_k(r['k'])}x your labels, "
                f"worse than training from scratch.")
    k = r["k"]
    text = f"{head} is as good as scratch with about {_n(r['n_star'])}{_with(interval)}: "
    if abs(k - 1) < 1e-9:
        text += "pretraining is worth exactly your labels (1x), no more"
    elif k < 1:
        text += f"pretraining is worth only {_k(k)}x your labels, worse than training from scratch"
    else:
        text += f"pretraining is worth about {_k(k)}x your labels"
    if case == "extrapolated":
        text += (f" (projected {_k(r['beyond_factor'])}x beyond the largest size measured, "
                 f"{r['scratch_max_size']} per class)")
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
    return ("Label multiplier K = n*/N: starting from what scratch measured at N, n* images per class is where "
            "scratch's learning curve has gained the paired gap (pretrained minus scratch at N), so no gap means K = 1. "
            "The curve is monotone interpolation in log n through scratch's means, and past the largest size the "
            "power law a - b n^-c anchored at scratch's largest measured point; a number is given up to "
            f"{_k(projection_limit(1))}x past the largest size ({_k(projection_limit(5))}x with 5 or more seeds), a "
            f"bound beyond. Interval: seeds resampled {N_BOOT} times with the curve redrawn and, past the largest size, "
            "the power law's residuals added with random signs (95 %, widened for few seeds by the t quantile).")


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
    """Everything a face shows: the table, the lead sentence, one line per variant and size, the labels
    each arm needs for the best pretrained accuracy, the time saved lines, how it was computed, or why
    there is none."""
    table: pd.DataFrame = field(repr=False)
    times: pd.DataFrame = field(repr=False)
    targets: pd.DataFrame = field(repr=False)
    lead: str
    lines: list[str]
    target_lines: list[str]
    time_lines: list[str]
    method: str
    missing: str  # why there is no multiplier; '' when there is one

    @property
    def all_lines(self) -> list[str]:
        """The lines under the lead, in the order every face shows them."""
        return self.lines + self.target_lines + self.time_lines


def build(frame: pd.DataFrame, epochs: pd.DataFrame | None = None, metric: str = "test_acc",
          runs: list[dict] | None = None, best: pd.DataFrame | None = None) -> Multiplier:
    """The multiplier of one experiment from its runs frame (``analysis.runs_frame``) and, for the time
    saved, its epochs frame (``analysis.epochs_frame``) and run records (which say where a linear probe
    trained on cached features). ``best``: the verdict's best variant per size, for the lead."""
    from tlcompare.analysis.frames import variant
    from tlcompare.analysis.time_saved import time_line, time_saved

    with anchored.shared_curves():  # the multiplier's and labels to target's walks share scratch's curves
        table = multipliers(frame, metric)
        targets = labels_to_target(frame, metric=metric) if not table.empty else pd.DataFrame(columns=TARGET_COLUMNS)
    cached = {(variant(r["arm"], r.get("freeze")), r["size"]) for r in runs or [] if r.get("feature_cache")}
    times = time_saved(epochs, cached, frame) if epochs is not None and not epochs.empty else pd.DataFrame()
    target_text = target_line(targets)
    return Multiplier(table=table, times=times, targets=targets, lead=lead(table, best), lines=lines(table),
                      target_lines=[target_text] if target_text else [],
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
