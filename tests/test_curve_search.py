"""The multiplier's fast paths give what the plain computations give: the crossing found by bisection
inside one measured interval is the first grid point a walk over the whole grid stops at, and the
power law's sums in closed form are the least squares of every residual."""

import numpy as np
import pytest

from tlcompare.analysis import anchored, curve_fits


def _walk_whole_grid(n, means, w, start, goal):
    """n* by walking every grid point from ``start`` (the definition the bisection must match)."""
    grid, values, _ = anchored._curve(np.asarray(n, float), means, w)
    i0 = start * anchored._STEPS
    out = np.full(values.shape[1], np.nan)
    for col in range(values.shape[1]):
        v, g = values[:, col], goal[col]
        level = v[i0]
        if abs(g - level) <= anchored._EPS:
            out[col] = n[start]
            continue
        order = range(i0 + 1, len(v)) if g > level else range(i0 - 1, -1, -1)
        for j in order:
            if (v[j] >= g - anchored._EPS) if g > level else (v[j] <= g + anchored._EPS):
                prev = j - 1 if g > level else j + 1
                step = v[j] - v[prev]
                frac = np.clip((g - v[prev]) / (step if abs(step) > anchored._EPS else 1.0), 0.0, 1.0)
                out[col] = np.exp(grid[prev] + frac * (grid[j] - grid[prev]))
                break
        else:
            out[col] = np.nan if g > level else -np.inf
    return out


@pytest.mark.parametrize("seed", range(6))
def test_bisection_finds_the_crossing_a_walk_over_every_grid_point_finds(seed):
    rng = np.random.default_rng(seed)
    n = np.array([2, 5, 10, 20, 50, 100][: 3 + seed % 4], dtype=float)
    means = np.sort(rng.uniform(0.1, 0.95, size=(len(n), 200)), axis=0)
    means[1] = means[0] if seed == 2 else means[1]  # a flat stretch (isotonic pools) in one case
    w = np.full(len(n), 3.0)
    start = int(rng.integers(0, len(n)))
    goal = rng.uniform(0.05, 1.0, size=200)
    goal[:10] = anchored._curve(n, means, w)[1][start * anchored._STEPS, :10]  # exactly the level: n* = N
    got = anchored.reach(n, means, w, start, goal=goal)["n_star"]
    want = _walk_whole_grid(n, means, w, start, goal)
    inside = ~np.isnan(want)  # past the largest size reach projects; the walk stops at the range
    np.testing.assert_allclose(got[inside], want[inside], rtol=1e-12)
    assert np.isnan(want[~inside]).all() and (goal[~inside] > 0).all()


def _fit_every_residual(n, y, w, c_min=0.0):
    """The power law fitted by summing each size's residual for every exponent (sizes x c x resamples)."""
    c_grid = curve_fits.C_GRID
    x = n[:, None, None] ** -c_grid[None, :, None]
    yy, ww = y[:, None, :], w[:, None, None]
    xbar, ybar = (ww * x).sum(0) / w.sum(), (ww * yy).sum(0) / w.sum()
    b = np.maximum(-(ww * (x - xbar) * (yy - ybar)).sum(0) / (ww * (x - xbar) ** 2).sum(0), 0.0)
    a = ybar + b * xbar
    b1 = np.maximum((ww * x * (1 - yy)).sum(0) / (ww * x * x).sum(0), 0.0)
    b, a = np.where(a > 1, b1, b), np.minimum(a, 1.0)
    sse = (ww * (yy - (a[None] - b[None] * x)) ** 2).sum(0) + curve_fits._C_TIE_BREAK[:, None]
    sse = np.where(c_grid[:, None] >= c_min, sse, np.inf)
    best = sse.argmin(0)
    cols = np.arange(y.shape[1])
    return a[best, cols], b[best, cols], c_grid[best]


@pytest.mark.parametrize("c_min", [0.0, 1.0])
def test_the_power_law_in_closed_form_is_the_least_squares_of_every_residual(c_min):
    rng = np.random.default_rng(3)
    n = np.array([1, 2, 5, 10, 20, 50, 100, 120], dtype=float)
    truth = 0.9 - 0.6 * n[:, None] ** -rng.uniform(0.2, 1.5, size=300)
    y = np.clip(truth + rng.normal(0, 0.02, size=truth.shape), 0, 1)
    y[:, :20] = np.linspace(0.5, 1.0, len(n))[:, None]  # ceilings pushed to 1 (the a <= 1 refit)
    w = rng.integers(1, 6, size=len(n)).astype(float)
    fit = curve_fits.fit_power(n, y, w, c_min)
    a, b, c = _fit_every_residual(n, y, w, c_min)
    np.testing.assert_array_equal(fit["c"], c)
    np.testing.assert_allclose(fit["a"], a, atol=1e-12)
    np.testing.assert_allclose(fit["b"], b, atol=1e-12)
