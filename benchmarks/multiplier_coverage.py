"""How often the label multiplier's statement is right, on learning curves of known shape.

    python benchmarks/multiplier_coverage.py                  # 200 draws per cell (a few minutes)
    python benchmarks/multiplier_coverage.py --draws 20       # a quick look

Scratch is measured at 5, 10, 20 and 50 images per class, as on digits, with noise per run (a part
shared by both arms of a seed at a size, as paired runs share their subset, and a part of each run's
own). The pretrained variant at N has exactly the accuracy the true scratch curve reaches at a chosen
n*, so the true multiplier is n*/N. Three truths, two of them not power laws:

- ``power``: 0.97 - 0.9 n^-0.6;
- ``logistic``: logistic in log n, 0.1 + 0.85 / (1 + exp(-1.6 (ln n - ln 8))) (a 10-class floor);
- ``offset``: a power law with an offset, 0.95 - (n + 5)^-0.5.

A statement is right when: a number's interval holds the true K (an open end counts as reaching past
the bound it names); a bound ("more than", "fewer than") holds for the true n*; "not reached" holds
when the true curve never reaches the target. Zero gain (n* = N) is its own row: K must be exactly 1.
Prints a Markdown table: for each truth, seeds and true n*, the share of right statements and the
share given as a number (not a bound).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from tlcompare.analysis import label_multiplier

SIZES = np.array([5, 10, 20, 50.0])
SHARED_SD, OWN_SD = 0.010, 0.010  # per run: about 1.4 points in all, half of it shared by the pair

TRUTHS = {
    "power": lambda n: 0.97 - 0.9 * np.asarray(n, float) ** -0.6,
    "logistic": lambda n: 0.1 + 0.85 / (1 + np.exp(-1.6 * (np.log(np.asarray(n, float)) - math.log(8)))),
    "offset": lambda n: 0.95 - (np.asarray(n, float) + 5) ** -0.5,
}
# (N, true n*): zero gain, inside the measured sizes, and 1.5x, 2.5x and 3x past the largest (50).
CELLS = [(10, 10.0), (5, 20.0), (10, 40.0), (5, 75.0), (10, 125.0), (10, 150.0)]


def right(row: dict, n_true: float) -> bool:
    """Whether the row's statement holds for the true n*."""
    size, case = row["size"], row["case"]
    if case == "not reached":
        return False  # every truth here reaches each target at a finite n*
    if case == "beyond projection" or case == "above range":
        return n_true > row["k"] * size * (1 - 1e-9)
    if case == "below range":
        return n_true < row["k"] * size * (1 + 1e-9)
    k_true = n_true / size
    if math.isnan(row["k_low"]):
        return abs(row["k"] - k_true) < 1e-9
    return row["k_low"] * (1 - 1e-9) <= k_true <= row["k_high"] * (1 + 1e-9)


def draw(truth, size: int, n_true: float, seeds: int, rng: np.random.Generator) -> dict:
    curve = truth(SIZES)
    shared = rng.normal(0, SHARED_SD, (len(SIZES), seeds))
    scratch = curve[:, None] + shared + rng.normal(0, OWN_SD, (len(SIZES), seeds))
    i = int(np.flatnonzero(size == SIZES)[0])
    gain = float(truth(n_true)) - curve[i]
    target = curve[i] + gain + shared[i] + rng.normal(0, OWN_SD, seeds)
    if n_true == size:  # zero gain, seed for seed: the pretrained arm equals scratch
        target = scratch[i].copy()
    return label_multiplier.estimate(SIZES, scratch, target, size, n_boot=1000, seed=int(rng.integers(2**31)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seeds", default="3,5")
    args = ap.parse_args()
    rng = np.random.default_rng(20261207)
    start = time.time()
    print("| truth | seeds | N | true n* | true K | right | as a number | cases |")
    print("|---|---|---|---|---|---|---|---|")
    for name, truth in TRUTHS.items():
        for seeds in (int(s) for s in args.seeds.split(",")):
            for size, n_true in CELLS:
                rows = [draw(truth, size, n_true, seeds, rng) for _ in range(args.draws)]
                ok = sum(right(r, n_true) for r in rows)
                numbers = sum(r["case"] in ("interpolated", "extrapolated") for r in rows)
                cases = {}
                for r in rows:
                    cases[r["case"]] = cases.get(r["case"], 0) + 1
                summary = ", ".join(f"{c} {v}" for c, v in sorted(cases.items(), key=lambda x: -x[1]))
                print(f"| {name} | {seeds} | {size} | {n_true:g} | {n_true / size:.1f} | {100 * ok / len(rows):.0f} % "
                      f"| {100 * numbers / len(rows):.0f} % | {summary} |", flush=True)
    print(f"\n{args.draws} draws per row, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
