"""The statistics behind the verdict: intervals over seeds, tests over test images, Holm's correction.

Two sources of noise, two tools:
- seeds (which training images, which initialisation of the head, which batches): a paired
  t-interval over the per-seed differences, with the test set held fixed;
- the test set (which images happened to be drawn for testing): an exact sign-flip test over test
  images, with the trained models held fixed. With one seed it is McNemar's exact test.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

# Accuracies are counts over a test set: equal differences from two seeds can differ by float
# round-off (1e-17), which a t-interval would turn into a certainty. Below this, the spread is zero.
ZERO_SPREAD = 1e-9


def t_interval(values) -> tuple[float, float]:
    """Half-width of the 95 % t-interval of the mean, and the standard deviation (NaN, NaN below 2 values).

    A zero spread (below ZERO_SPREAD) gives a NaN half-width and a 0 deviation, not a 0-wide
    interval: a handful of equal values does not make the mean certain, it only means the spread
    is below what they can resolve.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    sd = float(np.std(values, ddof=1))
    if sd < ZERO_SPREAD:
        return float("nan"), 0.0
    return float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)), sd


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries stay NaN and do not count in the family.

    Holm controls the family-wise error rate like Bonferroni, under any dependence between the
    tests (the variants of one size share their scratch runs), and is never less powerful.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if not m:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@functools.lru_cache(maxsize=4096)
def _half_binomial(m: int) -> np.ndarray:
    """The pmf of Binomial(m, 1/2) (read-only): the verdict asks for the same few counts many times."""
    pmf = stats.binom.pmf(np.arange(m + 1), m, 0.5)
    pmf.flags.writeable = False
    return pmf


def sign_flip_p(k) -> float:
    """Exact two-sided p of the sign-flip test on integer per-image differences ``k``.

    ``k[i]`` is, for test image i, the number of seeds where the first arm got it right minus the
    number where the second did (each in -n..n). Under "no difference", each image's difference
    is as likely to have either sign, so the null distribution of ``sum(k)`` is that of
    ``sum(+/- |k[i]|)``. It is computed exactly: images with the same |k| = a contribute
    ``a * (2 B - m_a)``, B binomial(m_a, 1/2), and these few distributions are convolved.
    With one seed (k in -1, 0, 1) this is McNemar's exact test on the discordant images.
    """
    k = np.asarray(k, dtype=np.int64)
    observed = abs(int(k.sum()))
    mags, counts = np.unique(np.abs(k[k != 0]), return_counts=True)
    if observed == 0:
        return 1.0
    total = int((mags * counts).sum())
    pmf = np.ones(1)
    for a, m in zip(mags, counts, strict=True):
        part = np.zeros(2 * a * m + 1)
        part[:: 2 * a] = _half_binomial(int(m))
        if len(pmf) * len(part) > 1_000_000:
            # Imported only for long ones: it costs 0.2 s, which a page's first verdict would pay.
            from scipy import signal

            pmf = signal.fftconvolve(pmf, part)
        else:
            pmf = np.convolve(pmf, part)
    pmf = np.clip(pmf, 0.0, None)  # FFT round-off can leave tiny negatives
    values = np.abs(np.arange(-total, total + 1))
    return float(min(1.0, pmf[values >= observed].sum()))


def mcnemar(right_a, right_b) -> tuple[int, int, float]:
    """Images only A got right, images only B got right, and McNemar's exact two-sided p."""
    a = np.asarray(right_a, dtype=bool)
    b = np.asarray(right_b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    return only_a, only_b, sign_flip_p(a.astype(np.int64) - b.astype(np.int64))
