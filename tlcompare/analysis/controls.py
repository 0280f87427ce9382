"""Do the pretrained features help? Each pretrained depth against its random-features control.

A linear probe beating scratch is not yet evidence that features transfer: on small images a
probe on a randomly initialised, frozen body can do about as well (random convolutional features
are a classic, strong baseline). The control arm (``random_control = true``) trains the same
freezing depth from random init with the pretrained arm's recipe; the difference, paired on the
same size and seed, is the part of the result that the pretrained weights earned.
"""

from __future__ import annotations

import pandas as pd

from tlcompare.analysis.frames import variant
from tlcompare.analysis.paired_stats import t_interval


def control_differences(frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Pretrained minus random features at the same freezing depth, paired on size and seed."""
    columns = ["variant", "control", "size", "n_pairs", "mean_diff", "ci95", "ci_low", "ci_high"]
    if frame.empty or "arm" not in frame:
        return pd.DataFrame(columns=columns)
    done = frame[frame["status"] == "done"]
    if not (done["arm"] == "random").any():  # no control arm: nothing to pair
        return pd.DataFrame(columns=columns)
    rows = []
    for (_, size), g in done[done["arm"].isin(["pretrained", "random"])].groupby(["freeze", "size"], sort=True):
        pre = g[g["arm"] == "pretrained"].set_index("seed")[metric]
        ctl = g[g["arm"] == "random"].set_index("seed")[metric]
        common = pre.index.intersection(ctl.index)
        if len(common) == 0:
            continue
        diffs = (pre.loc[common] - ctl.loc[common]).to_numpy(dtype=float)
        half, _ = t_interval(diffs)
        mean = float(diffs.mean())
        depth = g["depth"].iloc[0]  # the depth as data, not read back from the text
        rows.append({"variant": variant("pretrained", depth), "control": variant("random", depth), "size": int(size),
                     "n_pairs": len(diffs), "mean_diff": mean, "ci95": half, "ci_low": mean - half,
                     "ci_high": mean + half})
    return pd.DataFrame(rows, columns=columns)


def control_lines(frame: pd.DataFrame, metric: str = "test_acc") -> list[str]:
    """Plain sentences: where the pretrained features measurably beat random ones, and where not."""
    lines = []
    for _, r in control_differences(frame, metric).iterrows():
        pts, n = 100 * r["mean_diff"], int(r["n_pairs"])
        seeds = f"{n} seed{'s' if n != 1 else ''}"
        if r["ci95"] != r["ci95"]:
            verdict = f"differs from {r['control']} by {pts:+.1f} points ({seeds}: no interval)"
        elif r["ci_low"] > 0:
            verdict = (f"beats {r['control']} by {pts:.1f} points (95% CI {100 * r['ci_low']:+.1f} to "
                       f"{100 * r['ci_high']:+.1f}, {seeds}): the pretrained features help")
        elif r["ci_high"] < 0:
            verdict = (f"is behind {r['control']} by {-pts:.1f} points (95% CI {100 * r['ci_low']:+.1f} to "
                       f"{100 * r['ci_high']:+.1f}, {seeds}): the pretrained features do not help here")
        else:
            verdict = (f"is within noise of {r['control']} ({pts:+.1f} points, 95% CI {100 * r['ci_low']:+.1f} to "
                       f"{100 * r['ci_high']:+.1f}, {seeds}): no evidence the pretrained features help")
        lines.append(f"With {int(r['size'])} images per class, {r['variant']} {verdict}.")
    return lines
