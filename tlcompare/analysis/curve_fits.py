"""Accuracy as a function of images per class: the pieces of a learning curve, fitted to many resamples at once.

- ``power``: the 3-parameter power law ``a - b * n**(-c)`` with ``0 <= a <= 1``, ``b >= 0`` and
  ``c`` in ``C_GRID`` (a rising curve that levels off at its ceiling ``a``). For each ``c`` the
  model is linear in ``(a, b)``, so it is solved in closed form for every ``c`` of a fine grid and
  every resample together; the best ``c`` is kept. No iterative solver, no starting point to go
  wrong, and a thousand bootstrap fits cost one numpy expression.
- ``isotonic`` means and ``interp_curves``: monotone interpolation in log n (scipy's PCHIP), defined
  only inside the measured range.

How the two make one curve, anchored on what was measured, is ``analysis/anchored.py``.

Inputs are per-size means (``y``: sizes x resamples) with their weights (seeds per size): a least-
squares fit to every seed's point equals a weighted fit to the means.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

C_GRID = np.geomspace(0.02, 3.0, 160)
# A tie between exponents (two sizes fit every c exactly) goes to c = 0.5, a typical learning-curve slope.
_C_TIE_BREAK = 1e-9 * np.log(C_GRID / 0.5) ** 2
_FLAT = 1e-9  # a curve that rises less than this over the measured range is flat


def _col(y) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return y[:, None] if y.ndim == 1 else y


def isotonic(y, w) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression down axis 0 of ``y`` (sizes x resamples), through the
    min-max formula over all runs of consecutive sizes: vectorised, and cheap for the dozen sizes an
    experiment has."""
    y, w = _col(y), np.asarray(w, dtype=float)[:, None] * np.ones_like(_col(y))
    m = len(y)
    cw = np.vstack([np.zeros((1, y.shape[1])), np.cumsum(w, axis=0)])
    cy = np.vstack([np.zeros((1, y.shape[1])), np.cumsum(w * y, axis=0)])
    out = np.empty_like(y)
    for i in range(m):
        best = np.full(y.shape[1], -np.inf)
        for j in range(i + 1):
            k = np.arange(i, m)
            means = (cy[k + 1] - cy[j]) / np.maximum(cw[k + 1] - cw[j], 1e-300)
            best = np.maximum(best, means.min(axis=0))
        out[i] = best
    return out


def fit_power(n, y, w, c_min: float = 0.0) -> dict:
    """Least-squares ``a - b n^-c`` per column of ``y``: arrays ``a, b, c`` (one per resample) and ``sse``;
    ``c_min``: the smallest exponent allowed (a curve that levels off at least that fast).

    Every sum over sizes is a (c x sizes) @ (sizes x resamples) product, so no array holds sizes x c x
    resamples: the sums of squares in centred form are the same least squares, a thousand resamples
    at a time."""
    n, y = np.asarray(n, dtype=float), _col(y)
    w = np.asarray(w, dtype=float)
    sw = w.sum()
    x = n[None, :] ** -C_GRID[:, None]  # c x sizes
    xbar = (x * w).sum(1, keepdims=True) / sw  # c x 1
    ybar = (w @ y)[None, :] / sw  # 1 x resamples
    xc = x - xbar
    sxx = (w * xc**2).sum(1, keepdims=True)  # c x 1
    sxy = (w * xc) @ y  # c x resamples (the centring of y drops out: each row of w * xc sums to 0)
    syy = (w[:, None] * (y - ybar) ** 2).sum(0)[None, :]  # 1 x resamples
    b = np.maximum(-sxy / np.maximum(sxx, 1e-300), 0.0)  # b >= 0: a rising curve
    a = ybar + b * xbar
    # residual y - a + b x = (y - ybar) + b (x - xbar): its weighted sum of squares in closed form
    sse = syy + 2 * b * sxy + b**2 * sxx
    over = a > 1.0  # the ceiling at most 1: refit b with a = 1
    if over.any():
        sxx0 = (w * x * x).sum(1, keepdims=True)  # c x 1
        sx1 = (w * x) @ (1.0 - y)  # c x resamples
        s11 = (w[:, None] * (1.0 - y) ** 2).sum(0)[None, :]
        b1 = np.maximum(sx1 / np.maximum(sxx0, 1e-300), 0.0)
        # residual y - 1 + b1 x = b1 x - (1 - y)
        sse1 = s11 - 2 * b1 * sx1 + b1**2 * sxx0
        a = np.where(over, 1.0, a)
        b = np.where(over, b1, b)
        sse = np.where(over, sse1, sse)
    a = np.clip(a, 0.0, 1.0)
    sse = np.maximum(sse, 0.0) + _C_TIE_BREAK[:, None]
    sse = np.where(C_GRID[:, None] >= c_min, sse, np.inf)
    best = sse.argmin(axis=0)
    cols = np.arange(y.shape[1])
    return {"a": a[best, cols], "b": b[best, cols], "c": C_GRID[best], "sse": sse[best, cols]}


def power_value(fit: dict, n) -> np.ndarray:
    """Fitted accuracy at sizes ``n`` (rows) for every resample (columns)."""
    n = np.asarray(n, dtype=float)[:, None]
    return fit["a"][None] - fit["b"][None] * n ** -fit["c"][None]


def power_inverse(fit: dict, target) -> np.ndarray:
    """The size at which each resample's curve reaches ``target``: inf at or above its ceiling, NaN
    where the curve is flat (it reaches nothing by growing)."""
    a, b, c = fit["a"], fit["b"], fit["c"]
    target = np.broadcast_to(np.asarray(target, dtype=float), a.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n = (b / (a - target)) ** (1.0 / c)
    n = np.where(target >= a, np.inf, n)
    return np.where(b <= _FLAT, np.nan, n)


def interp_curves(n, y, w) -> PchipInterpolator:
    """Monotone interpolation in log n of the isotonic means, one curve per column of ``y``."""
    return PchipInterpolator(np.log(np.asarray(n, dtype=float)), isotonic(y, w), axis=0, extrapolate=False)
