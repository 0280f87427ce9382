"""Where a learning curve reaches an accuracy, walked from a point that was measured.

The curve S(n) (accuracy against images per class) is fixed in advance, not chosen on the data:
- inside the measured sizes, monotone interpolation in log n through the measured means (isotonic
  means, then PCHIP): it passes through every measured point that is not pooled with a dip;
- past the largest size M, the power law ``a - b n^-c`` (``curve_fits.fit_power``, fitted to every
  measured mean) is used for its shape only, anchored at S(M): ``S(n) = S(M) + b (M^-c - n^-c)``.
  Its ceiling is ``S(M) + b M^-c``. With fewer than ``MIN_SIZES_TO_PROJECT`` sizes nothing is
  projected (a 3-parameter curve through 3 points cannot show that its form is wrong).

``reach`` walks along S from a measured size: up when the goal lies above S there, down when below,
and stays exactly there when the goal equals it. A paired gap of zero therefore gives n* = N for any
curve shape, and a gap of g points moves n* along the curve from N, never from a fitted value at N.

Everything works on many resamples at once: ``means`` is sizes x resamples.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator

import numpy as np
from scipy.interpolate import PchipInterpolator

from tlcompare.analysis.curve_fits import fit_power, isotonic

MIN_SIZES_TO_PROJECT = 4
_STEPS = 120  # grid points per measured interval, in log n
_EPS = 1e-12


def _grid(n: np.ndarray) -> np.ndarray:
    """Points in log n over the measured range, every measured size on the grid (size i at i * _STEPS)."""
    logs = np.log(n)
    parts = [np.linspace(logs[i], logs[i + 1], _STEPS, endpoint=False) for i in range(len(n) - 1)]
    return np.concatenate([*parts, logs[-1:]])


def _crossing(values: np.ndarray, grid: np.ndarray, i0: int, goal: np.ndarray, up: bool,
              cols: np.ndarray) -> np.ndarray:
    """The size (not its log) where columns ``cols`` of ``values`` (grid points x resamples,
    non-decreasing down the grid) first cross their ``goal`` walking from grid point ``i0`` up or
    down, linear in log n between the grid points either side; NaN where one never does.

    The curve is monotone, so the crossing lies in the measured interval whose end first reaches the
    goal, and within it the first grid point that reaches it is found by bisection: the same point a
    walk over every grid point would stop at, for a few reads per resample."""
    knots = values[::_STEPS][:, cols]  # the measured sizes' values
    s, last = i0 // _STEPS, len(grid) - 1
    if up:
        reached = knots[s:] >= goal[None] - _EPS
        base, sign = (s + reached.argmax(axis=0) - 1) * _STEPS, 1  # the interval's start, below the goal
    else:
        reached = knots[: s + 1][::-1] <= goal[None] + _EPS
        base, sign = (s - reached.argmax(axis=0) + 1) * _STEPS, -1

    def at(t):  # grid index of step t into the interval, walking away from the start
        return np.clip(base + sign * t, 0, last)

    def hits(t):
        v = values[at(t), cols]
        return v >= goal - _EPS if up else v <= goal + _EPS

    lo, hi = np.zeros(len(cols), dtype=int), np.full(len(cols), _STEPS)  # step lo misses, step hi reaches
    while (hi - lo > 1).any():
        mid = (lo + hi) // 2
        h = hits(mid)
        lo, hi = np.where(h, lo, mid), np.where(h, mid, hi)
    before, after = values[at(hi - 1), cols], values[at(hi), cols]
    step = after - before
    frac = np.clip((goal - before) / np.where(np.abs(step) > _EPS, step, 1.0), 0.0, 1.0)
    log_before = grid[at(hi - 1)]
    out = np.exp(log_before + frac * (grid[at(hi)] - log_before))
    return np.where(reached.any(axis=0), out, np.nan)


# While ``shared_curves()`` is open: curves and projections already computed, keyed by the bytes of
# their inputs (content, never a name), so walks from the same resampled curves (every variant and
# size of one experiment, both forms of one walk) fit them once. Closed, nothing is kept. A context
# variable, not a global: the dashboard analyses experiments in several threads at once, and one
# thread's closing must neither end another's memo nor leave its own behind.
_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar("tlcompare_shared_curves", default=None)


@contextlib.contextmanager
def shared_curves() -> Iterator[None]:
    token = _memo.set({} if _memo.get() is None else _memo.get())
    try:
        yield
    finally:
        _memo.reset(token)


def remembered(kind: str, arrays: tuple, extra, compute):
    memo = _memo.get()
    if memo is None:
        return compute()
    digest = hashlib.blake2b(repr(extra).encode(), digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=float)
        digest.update(repr(a.shape).encode())
        digest.update(a.tobytes())
    key = (kind, digest.hexdigest())
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def curve(n, means, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interpolated curve over the measured range: grid (log n), values (points x resamples), isotonic means."""
    n = np.asarray(n, dtype=float)
    return remembered("curve", (n, means, w), None, lambda: _curve(n, means, w))


def _curve(n: np.ndarray, means, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iso = isotonic(means, w)
    grid = _grid(n)
    return grid, PchipInterpolator(np.log(n), iso, axis=0)(grid), iso


def projection(n, means, w, anchor, c_min: float = 0.0) -> dict:
    """The anchored power law past the largest size: ``b``, ``c`` and the ceiling per resample (NaN with
    too few sizes). ``anchor``: S(M) per resample; ``means`` (sizes x resamples) are what the law is fitted to."""
    n = np.asarray(n, dtype=float)
    cols = np.asarray(means, dtype=float).reshape(len(n), -1).shape[1]
    if len(n) < MIN_SIZES_TO_PROJECT:
        nan = np.full(cols, np.nan)
        return {"b": nan, "c": nan, "ceiling": nan}
    fit = remembered("power", (n, means, w), c_min, lambda: fit_power(n, means, w, c_min))
    room = fit["b"] * n[-1] ** -fit["c"]
    return {"b": fit["b"], "c": fit["c"], "ceiling": np.asarray(anchor, dtype=float) + room}


def projected_size(n_max: float, anchor, proj: dict, goal) -> np.ndarray:
    """Where the anchored power law reaches ``goal``: inf at or above its ceiling, NaN with no projection."""
    b, c = proj["b"], proj["c"]
    d = np.asarray(goal, dtype=float) - np.asarray(anchor, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inner = n_max ** -c - d / np.where(b > 0, b, np.nan)
        size = np.where(inner > 0, inner, np.nan) ** (-1.0 / c)
    size = np.where(goal >= proj["ceiling"] - _EPS, np.inf, size)
    return np.where(np.isnan(proj["ceiling"]), np.nan, size)


def reach(n, means, w, start: int, goal=None, gap=None, project_means=None, c_min: float = 0.0) -> dict:
    """Walk scratch's curve from measured size ``n[start]`` to ``goal`` (one per resample), or to its own
    level there plus ``gap`` (the paired gain over scratch at that size).

    ``means``: sizes x resamples; ``w``: seeds per size; ``project_means``: what the power law past the
    largest size is fitted to (default ``means``; the multiplier's interval adds residual noise there);
    ``c_min``: the projection's smallest exponent (the interval's second form, see label_multiplier).
    Returns ``n_star`` per resample (the size; -inf below the smallest measured size, inf where the
    anchored projection's ceiling is at or below the goal, NaN past the largest size when there is no
    projection), ``ceiling`` (the anchored ceiling, NaN without projection) and ``anchor`` (S(M))."""
    n = np.asarray(n, dtype=float)
    means = np.asarray(means, dtype=float).reshape(len(n), -1)
    grid, values, iso = curve(n, means, w)
    cols = means.shape[1]
    i0 = start * _STEPS
    level = values[i0]
    if gap is not None:
        gap = np.broadcast_to(np.asarray(gap, dtype=float), (cols,))
        goal = np.where(gap == 0, level, level + gap)
    goal = np.broadcast_to(np.asarray(goal, dtype=float), (cols,)).copy()
    out = np.full(cols, np.nan)
    same = np.abs(goal - level) <= _EPS
    out[same] = n[start]

    up = (goal > level) & ~same
    found_up = np.full(cols, np.nan)
    if up.any():
        found_up[up] = _crossing(values, grid, i0, goal[up], True, np.flatnonzero(up))
    out = np.where(up & np.isfinite(found_up), found_up, out)

    down = (goal < level) & ~same
    found_down = np.full(cols, np.nan)
    if down.any():
        found_down[down] = _crossing(values, grid, i0, goal[down], False, np.flatnonzero(down))
    out = np.where(down & np.isfinite(found_down), found_down, out)
    out = np.where(down & ~np.isfinite(found_down), -np.inf, out)

    anchor = iso[-1]
    proj = projection(n, means if project_means is None else project_means, w, anchor, c_min)
    beyond = up & ~np.isfinite(found_up)
    out = np.where(beyond, projected_size(n[-1], anchor, proj, goal), out)
    return {"n_star": out, "ceiling": proj["ceiling"], "anchor": anchor, "goal": goal}


def curve_points(n, means, w, hi: float, points: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One curve for a chart: sizes and accuracies inside the measured range, then the anchored
    projection from the largest size up to ``hi`` (empty without projection)."""
    n = np.asarray(n, dtype=float)
    y = np.asarray(means, dtype=float).reshape(len(n), 1)
    grid, values, iso = curve(n, y, w)
    inside_x, inside_y = np.exp(grid), values[:, 0]
    proj = projection(n, y, w, iso[-1])
    if np.isnan(proj["ceiling"][0]) or hi <= n[-1]:
        return inside_x, inside_y, np.array([]), np.array([])
    xs = np.geomspace(n[-1], hi, points)
    ys = iso[-1, 0] + proj["b"][0] * (n[-1] ** -proj["c"][0] - xs ** -proj["c"][0])
    return inside_x, inside_y, xs, ys
