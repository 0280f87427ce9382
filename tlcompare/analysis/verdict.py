"""The verdict: every pretrained variant against scratch, each with its own evidence, in plain words.

Each variant (freezing depth) at each size is one comparison with scratch, judged twice:
- over seeds: the paired t-interval and t-test of the per-seed differences (test set held fixed);
- over test images: an exact sign-flip test of the per-image differences, averaged over seeds
  (trained models held fixed); with one seed it is McNemar's exact test.

Why not combine the per-seed McNemar tests with Fisher's or Stouffer's method: those assume
independent p-values, but every seed is scored on the same test images, so an image that is easy
for pretrained and hard for scratch counts in every seed's test; combined as independent they
would overstate the evidence about as many times as there are seeds. Averaging each image over
the seeds first and testing over images keeps the image as the unit that was sampled.

A variant wins (or loses) only when both tests say so at the 95 % level after Holm's correction
over every variant x size comparison of the experiment, so naming "the best of K" afterwards does
not turn noise into a finding. Where a test cannot be made (one seed, seeds that all agree, runs
stored without per-image results) the text says so instead of guessing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tlcompare.analysis.frames import paired_differences, paired_runs, variant_order
from tlcompare.analysis.paired_stats import holm, mcnemar, sign_flip_p
from tlcompare.store.correct_bits import unpack_correct

ALPHA = 0.05
_NO_TEST = {"test_p": float("nan"), "test_images": 0, "mcnemar": []}


# -- the numbers ------------------------------------------------------------------------------------
def _test_set_columns(runs: pd.DataFrame, scratch: pd.DataFrame) -> dict:
    """The test over test images for one variant and size; NaN where any run lacks its per-image record."""
    if "test_correct" not in runs or "test_correct" not in scratch:
        return _NO_TEST
    ours = [unpack_correct(x) for x in runs["test_correct"]]
    theirs = [unpack_correct(x) for x in scratch["test_correct"]]
    arrays = ours + theirs
    if any(a is None for a in arrays) or len({len(a) for a in arrays}) != 1 or not len(arrays[0]):
        return _NO_TEST
    k = sum(a.astype(np.int64) - b.astype(np.int64) for a, b in zip(ours, theirs, strict=True))
    return {"test_p": sign_flip_p(k), "test_images": len(arrays[0]),
            "mcnemar": [mcnemar(a, b) for a, b in zip(ours, theirs, strict=True)]}


def _outcome(r) -> str:
    if r["n_pairs"] < 2:
        return "one seed"
    if not r["std"] > 0:
        return "agree"
    seeds_say = r["p_holm"] < ALPHA
    test_known = not math.isnan(r["test_p_holm"])
    if seeds_say and test_known and r["test_p_holm"] >= ALPHA:
        return "test set unsure"
    if not seeds_say:
        return "tie"
    return "win" if r["mean_diff"] > 0 else "loss"


def comparisons(frame: pd.DataFrame, metric: str = "test_acc", pairs: list | None = None) -> pd.DataFrame:
    """One row per pretrained variant and size: the paired difference with its seed interval, the
    test over test images, both p-values Holm-corrected over all rows, and the outcome
    (win, loss, tie, "test set unsure", "one seed" or "agree")."""
    pairs = list(paired_runs(frame)) if pairs is None else pairs  # pairs: paired_runs(frame), kept by the caller
    diffs = paired_differences(frame, metric, pairs)
    if diffs.empty:
        return diffs
    # Per-image results say which images a run got right: they test accuracy, no other metric.
    extra = {(var, size): _test_set_columns(runs, scratch) if metric == "test_acc" else _NO_TEST
             for var, size, runs, scratch in pairs if var.startswith("pretrained")}
    diffs = diffs[diffs["variant"].str.startswith("pretrained")].reset_index(drop=True)
    if diffs.empty:
        return diffs
    for col in ("test_p", "test_images", "mcnemar"):
        diffs[col] = [extra[(v, s)][col] for v, s in zip(diffs["variant"], diffs["size"], strict=True)]
    diffs["p_holm"] = holm(diffs["p_value"])
    diffs["test_p_holm"] = holm(diffs["test_p"])
    diffs["outcome"] = [_outcome(r) for _, r in diffs.iterrows()]
    return diffs


def best_per_size(comp: pd.DataFrame) -> pd.DataFrame:
    """The pretrained variant with the largest mean gain at each size: the one "best gain per size"
    every page, report and summary shows. Read it as the best of K, judged with the correction
    ``comparisons`` applied over all K variants and sizes."""
    if comp.empty:
        return comp
    return comp.loc[comp.groupby("size")["mean_diff"].idxmax()].sort_values("size").reset_index(drop=True)


def incomplete_pairs(frame: pd.DataFrame) -> tuple[int, int, Counter]:
    """(incomplete, total, reasons): pretrained runs whose pair with scratch (same size and seed) has
    no two finished runs, counted by what happened (diverged, failed, cancelled, not finished yet)."""
    if frame.empty or "arm" not in frame:
        return 0, 0, Counter()
    status = {(r.size, r.seed): r.status for r in frame[frame["arm"] == "scratch"].itertuples()}
    reasons: Counter = Counter()
    pre = frame[frame["arm"] == "pretrained"]
    for r in pre.itertuples():
        states = {r.status, status.get((r.size, r.seed), "missing")}
        if states == {"done"}:
            continue
        for reason in ("diverged", "failed", "cancelled", "missing"):
            if reason in states:
                reasons[reason] += 1
                break
        else:
            reasons["not finished yet"] += 1
    return sum(reasons.values()), len(pre), reasons


# -- the words --------------------------------------------------------------------------------------
def _short(variant: str) -> str:
    return variant.removeprefix("pretrained, ")


def _and_list(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def _sizes_text(sizes) -> str:
    return _and_list([str(int(s)) for s in sizes])


def _number(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.1f}"


def diff_text(diff: float, n_test: int | None = None) -> str:
    """'+1.2 points', naming differences of a few test images as such: '+0.3 points, one test image'."""
    text = f"{100 * diff:+.1f} points"
    if diff == 0:
        return "0.0 points"
    if n_test:
        images = abs(diff) * n_test
        if images < 1 - 1e-9:
            text += ", less than one test image"
        elif abs(images - 1) < 1e-9:
            text += ", one test image"
        elif images < 5:
            text += f", {_number(images)} test images"
    return text


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _test_set_text(r) -> str:
    if math.isnan(r["test_p"]):
        return ""
    holm_note = "" if r["test_p_holm"] == r["test_p"] else f", Holm {_p_text(r['test_p_holm'])}"
    return f"; test set {_p_text(r['test_p'])}{holm_note} over {r['test_images']} images"


def _clause(r, n_test: int | None) -> str:
    """One variant at one size, with its own interval and tests."""
    name, n = _short(r["variant"]), int(r["n_pairs"])
    diff = diff_text(r["mean_diff"], r["test_images"] or n_test)
    test = _test_set_text(r)
    if r["outcome"] == "one seed":
        return f"{name} {diff} (1 seed: no interval{test})"
    if r["outcome"] == "agree":
        return f"{name}: all {n} seeds agree ({diff}); too few to give an interval{' (' + test[2:] + ')' if test else ''}"
    ci = f"95% CI {100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}"
    evidence = f"{diff}, {ci}, seeds Holm {_p_text(r['p_holm'])}{test}"
    verb = {"win": "wins significantly", "loss": "is significantly worse than scratch", "tie": "is within noise",
            "test set unsure": "is within the noise of this test set (the seeds agree, the test images do not confirm it)",
            }[r["outcome"]]
    return f"{name} {verb} ({evidence})"


def size_lines(comp: pd.DataFrame, n_test: int | None = None) -> list[str]:
    """One sentence per size naming every variant, the best of K, and any that loses significantly."""
    if comp.empty:
        return ["No finished scratch/pretrained pairs yet."]
    k = comp["variant"].nunique()
    order = {v: i for i, v in enumerate(variant_order(comp["variant"]))}
    best = best_per_size(comp).set_index("size")["variant"]
    lines = []
    for size, g in comp.groupby("size", sort=True):
        g = g.sort_values("variant", key=lambda c: c.map(order))
        seeds = sorted(set(int(n) for n in g["n_pairs"]))
        seeds_text = f"{seeds[0]} seed{'s' if seeds[0] != 1 else ''}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]} seeds"
        text = f"With {size} image{'s' if size != 1 else ''} per class ({seeds_text}): " + "; ".join(_clause(r, n_test) for _, r in g.iterrows())
        if k > 1:
            text += f". Best of {k}: {_short(best[size])}"
        lines.append(text + ".")
    return lines


def answer(comp: pd.DataFrame) -> str:
    """The verdict in one or two sentences: where the best of the K pretrained variants wins, ties or
    loses (with the correction named), and every variant that is significantly worse than scratch."""
    if comp.empty:
        return "No finished scratch/pretrained pairs yet."
    k, family = comp["variant"].nunique(), correction_text(comp)
    subject = f"Pretrained ({_short(comp['variant'].iloc[0])})" if k == 1 else f"The best of {k} pretrained variants"
    best = best_per_size(comp)
    if best["outcome"].isin(["one seed"]).all():
        # One seed: no interval, so say who leads and by how much, and leave "wins" to the caveat.
        clauses = []
        for leader, rows in ((subject, best[best["mean_diff"] >= 0]), ("Scratch", best[best["mean_diff"] < 0])):
            if len(rows):
                gaps = [f"{abs(100 * d):.1f} points at {s}" + (f" ({_short(v)})" if k > 1 else "")
                        for d, s, v in zip(rows["mean_diff"], rows["size"], rows["variant"], strict=True)]
                clauses.append(f"{leader} leads by " + _and_list(gaps))
        return "; ".join(clauses) + " images per class (one seed: no interval)."
    corrected = f"{subject} ({family})" if family else subject
    groups = {o: list(best.loc[best["outcome"] == o, "size"]) for o in ("win", "tie", "loss")}
    groups["tie"] += list(best.loc[best["outcome"] == "test set unsure", "size"])
    groups["tie"].sort()
    unsure = list(best.loc[best["outcome"].isin(["one seed", "agree"]), "size"])
    wins, ties, losses = groups["win"], groups["tie"], groups["loss"]
    pts = 100 * best.loc[best["outcome"] == "win", "mean_diff"]
    if wins and len(wins) == len(best):
        text = (f"{corrected} wins at every size tested ({wins[0]} to {wins[-1]} images per class), "
                f"by {_range_text(pts)}.")
    elif wins and ties and not losses and not unsure and max(wins) < min(ties):
        text = (f"{corrected} wins up to {max(wins)} images per class (by up to {pts.max():.1f} points); "
                f"from {min(ties)} per class the difference is within noise.")
    else:
        parts = [f"{verb} {_sizes_text(sizes)}" for verb, sizes in (
            ("wins at", wins), ("is within noise at", ties), ("is behind scratch at", losses),
            ("cannot be judged yet (too few seeds) at", unsure)) if sizes]
        text = f"{corrected} " + "; ".join(
            p + (" images per class" if i == 0 else " per class") for i, p in enumerate(parts)) + "."
    return text + (f" {_best_text(best)}" if k > 1 else "") + "".join(f" {line}" for line in _losers(comp, best))


def _best_text(best: pd.DataFrame) -> str:
    """Which variant is the best at which sizes: 'Best: linear probe at 5; fine-tune all at 20 and 50.'"""
    groups: dict[str, list] = {}
    for v, size in zip(best["variant"], best["size"], strict=True):
        groups.setdefault(_short(v), []).append(size)
    if len(groups) == 1:
        return f"Best: {next(iter(groups))} at every size."
    return "Best: " + "; ".join(f"{v} at {_sizes_text(sizes)}" for v, sizes in groups.items()) + " per class."


def _range_text(pts: pd.Series) -> str:
    lo, hi = f"{pts.min():.1f}", f"{pts.max():.1f}"
    return f"{lo} points" if lo == hi else f"{lo} to {hi} points"


def _losers(comp: pd.DataFrame, best: pd.DataFrame) -> list[str]:
    """'Linear probe is significantly worse than scratch at 100 per class.' for variants other than the best."""
    best_keys = set(zip(best["variant"], best["size"], strict=True))
    others = np.array([(v, s) not in best_keys for v, s in zip(comp["variant"], comp["size"], strict=True)])
    lost = comp[(comp["outcome"] == "loss").to_numpy() & others]
    out = []
    for var in variant_order(lost["variant"]):
        sizes = sorted(lost.loc[lost["variant"] == var, "size"])
        name = _short(var)
        out.append(f"{name[0].upper() + name[1:]} is significantly worse than scratch at {_sizes_text(sizes)} images per class.")
    return out


def budget_text(spec: dict | None) -> str:
    """Which training budget both arms of every pair had."""
    spec = spec or {}
    budget = spec.get("budget", "epochs")
    if budget == "epochs":
        epochs = spec.get("epochs")
        return f"Budget: equal epochs for both arms of every pair ({epochs} per run)." if epochs else \
            "Budget: equal epochs for both arms of every pair."
    if budget == "steps":
        return "Budget: equal optimizer steps for both arms of every pair, whatever the size."
    if budget == "converged" and spec.get("min_steps") is not None:
        return ("Budget: each run trained until its validation accuracy stopped improving "
                f"(at least {spec.get('min_steps')} optimizer steps, patience {spec.get('patience')} steps, "
                f"at most {spec.get('max_epochs')} epochs).")
    if budget == "converged":
        return ("Budget: each run trained until its validation accuracy stopped improving "
                f"(patience {spec.get('patience')} epochs, at most {spec.get('max_epochs')} epochs).")
    return f"Budget: {budget}."


def _incomplete_text(frame: pd.DataFrame) -> str:
    n, total, reasons = incomplete_pairs(frame)
    if not n:
        return ""
    why = ", ".join(f"{c} {r if r != 'missing' else 'without a scratch run'}" for r, c in reasons.most_common())
    text = f"{n} of {total} pairs incomplete ({why})"
    settled = n - reasons.get("not finished yet", 0)
    if settled:
        text += (f"; the comparisons use the {total - n} complete pairs, which can favour the runs that survived "
                 "(a diverged run is a result too: see the runs table)")
    return text + "."


def _caveats(frame: pd.DataFrame, comp: pd.DataFrame, metric: str) -> list[str]:
    out = []
    if not comp.empty:
        seeds = comp.groupby("size")["n_pairs"].max()
        if seeds.max() < 2:
            out.append("One seed per size: no confidence interval yet. Run two or more seeds to tell a real gap from noise.")
        elif seeds.min() < 2:
            out.append(f"Sizes {_sizes_text(list(seeds[seeds < 2].index))} have one paired seed only: no interval there.")
        missing = comp["test_p"].isna()
        if metric == "test_acc" and missing.any():
            out.append("Test-set test unavailable" + ("" if missing.all() else f" for {int(missing.sum())} of {len(comp)} comparisons")
                       + ": their runs were stored before tlcompare kept which test images each run got right; "
                       "train them again (--force, or a new experiment) to get it.")
    incomplete = _incomplete_text(frame)
    if incomplete:
        out.append(incomplete)
    return out


def correction_text(comp: pd.DataFrame) -> str:
    """'Holm-corrected over 6 comparisons', or the two family sizes where some comparisons lack a test
    (one seed has no seed test; runs stored without per-image results have no test-set test)."""
    seeds = int(comp["p_holm"].notna().sum()) if not comp.empty else 0
    images = int(comp["test_p_holm"].notna().sum()) if not comp.empty else 0
    if max(seeds, images) < 2:
        return ""
    if images in (0, seeds):
        return f"Holm-corrected over {seeds} comparisons"
    if seeds == 0:
        return f"Holm-corrected over {images} comparisons"
    return f"Holm-corrected over {seeds} (seeds) and {images} (test set) comparisons"


def method_text(comp: pd.DataFrame) -> str:
    """What 'significant' means in the lines above."""
    k = comp["variant"].nunique() if not comp.empty else 0
    s = comp["size"].nunique() if not comp.empty else 0
    family = correction_text(comp)
    family = (f"{family} ({k} variant{'s' if k != 1 else ''} x {s} size{'s' if s != 1 else ''})"
              if family else "no correction (a single comparison)")
    return (f"Significant: at the 95 % level, {family}, both over seeds (paired t-test; the 95 % CI covers "
            "seed-to-seed variation on this one test set) and over test images (exact sign-flip test; McNemar's "
            "with one seed), where the per-image results exist.")


@dataclass
class Verdict:
    answer: str
    lines: list[str]  # one per size
    caveats: list[str]  # budget, too few seeds, test-set test unavailable, incomplete pairs
    method: str
    comparisons: pd.DataFrame = field(repr=False)

    @property
    def best(self) -> pd.DataFrame:
        return best_per_size(self.comparisons)


def build(frame: pd.DataFrame, spec: dict | None = None, n_test: int | None = None, metric: str = "test_acc",
          pairs: list | None = None) -> Verdict:
    """The verdict of one experiment from the frame of all its runs (any status: the unfinished ones
    are how the incomplete pairs are counted), its spec dict (for the budget) and, for runs without
    per-image results, the number of test images (to name differences of a few images)."""
    has_metric = not frame.empty and metric in frame
    comp = comparisons(frame, metric, pairs) if has_metric else pd.DataFrame()
    return Verdict(answer=answer(comp), lines=size_lines(comp, n_test) if not comp.empty else [],
                   caveats=[budget_text(spec), *_caveats(frame, comp, metric)],
                   method=method_text(comp) if not comp.empty else "", comparisons=comp)


def headline(frame: pd.DataFrame, metric: str = "test_acc") -> str:
    """One short line for a list of experiments: the best pretrained gap at the smallest and largest size."""
    if frame.empty or metric not in frame:
        return "no results yet"
    comp = comparisons(frame, metric)
    best = best_per_size(comp)
    if best.empty:
        return "no finished pairs yet"
    k = comp["variant"].nunique()
    ends = best.iloc[[0, -1]] if len(best) > 1 else best
    parts = [f"{int(r['size'])}/class {100 * r['mean_diff']:+.1f} pts ({_short(r['variant'])})" for _, r in ends.iterrows()]
    return ("pretrained vs scratch: " if k == 1 else f"best of {k} pretrained vs scratch: ") + ", ".join(parts)
