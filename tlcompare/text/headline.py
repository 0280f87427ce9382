"""The headline: the answer in one sentence a room can read from the back, and its caveats apart.

    Pretrained (fine-tune all) beats scratch by 30.6 points at 5 images per class, worth about 2.1x the labels.
    Provisional: 12 of 18 runs finished · 4 of 12 runs underfit: the gap may show the budget more than the data

The sentence names who wins at which size, by how much, and the label multiplier K; it has at most
``MAX_WORDS`` words. It reads the verdict's outcome (Holm-corrected, the same word the size-by-size
lines use) and the multiplier of the same variant and size, so it never says more than they do.
Everything that limits it (too few runs yet, one seed, runs that did not finish learning, a
multiplier read off an extrapolated curve) goes on the caveats line, in smaller type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

MAX_WORDS = 20


@dataclass(frozen=True)
class Headline:
    sentence: str
    caveats: str  # one line, '' when nothing limits the sentence


def _name(variant: str, k_variants: int) -> str:
    short = variant.removeprefix("pretrained, ")
    return "pretrained" if k_variants == 1 else f"pretrained ({short})"


def _points(diff: float) -> str:
    return f"{abs(100 * diff):.1f} points"


def _k(k: float) -> str:
    return f"{k:.2g}" if k < 10 else f"{k:.0f}"


def multiplier_words(row) -> str:
    """'worth about 2.1x the labels' for a row of the multiplier table; '' where there is no K."""
    if row is None:
        return ""
    case, k = row["case"], row["k"]
    if case == "not reached":
        return "scratch never reaches that accuracy"
    if not (k is not None and math.isfinite(k)):  # flat: no multiplier
        return ""
    if case in ("above range", "beyond projection"):  # k is the bound the multiplier's sentence names
        return f"worth over {_k(k)}x the labels"
    if case == "below range":
        return f"worth under {_k(k)}x the labels"
    if case in ("interpolated", "extrapolated"):
        return f"worth about {_k(k)}x the labels"
    return ""


def _sentence(r, k_variants: int, mult, px: int | None = None) -> str:
    name, size = _name(r["variant"], k_variants), int(r["size"])
    # One resolution of a sweep names it: the experiments of a sweep differ only there.
    at = f"at {size} image{'s' if size != 1 else ''} per class" + (f" ({px} px)" if px else "")
    k_text = multiplier_words(mult)
    outcome, diff = r["outcome"], r["mean_diff"]
    if outcome == "win":
        text = f"{name} beats scratch by {_points(diff)} {at}"
    elif outcome == "loss":
        text = f"scratch beats {name} by {_points(diff)} {at}"
    elif outcome in ("tie", "test set unsure"):
        # A gap within noise is no basis for a number of labels: the multiplier table still lists
        # K and its interval, the sentence does not claim it.
        k_text = ""
        text = f"{at}, {name} is within noise of scratch ({100 * diff:+.1f} points)"
    elif diff >= 0:  # one seed, or seeds that all agree: no test, so "leads", not "beats"
        text = f"{name} leads scratch by {_points(diff)} {at}"
    else:
        text = f"scratch leads {name} by {_points(diff)} {at}"
    text = text + (f", {k_text}" if k_text else "") + "."
    return text[0].upper() + text[1:]


def _multiplier_row(table: pd.DataFrame, variant: str, size) -> object:
    if table is None or table.empty:
        return None
    rows = table[(table["variant"] == variant) & (table["size"] == size)]
    return None if rows.empty else rows.iloc[0]


def caveats(view, row=None, mult=None) -> str:
    """What limits the sentence, one short clause each, joined on one line."""
    out = []
    statuses = [r["status"] for r in view.runs]
    waiting = sum(s in ("queued", "running") for s in statuses)
    if waiting:
        out.append(f"Provisional: {len(statuses) - waiting} of {len(statuses)} runs finished")
    if row is not None and row["n_pairs"] < 2:
        out.append("1 seed: no interval")
    elif row is not None and row["outcome"] == "agree":
        out.append("seeds all agree: no interval")
    flags = view.flags
    if not flags.empty:
        under, rising = int(flags["underfit"].sum()), int(flags["still_improving"].sum())
        if under or rising:
            parts = ([f"{under} of {len(flags)} runs underfit"] if under else []) + (
                [f"{rising}{'' if under else f' of {len(flags)}'} runs still improving"] if rising else [])
            out.append(f"{', '.join(parts)}: the gap may show the budget more than the data")
    if mult is not None and mult["case"] == "extrapolated":
        out.append(f"K projected {_k(mult['beyond_factor'])}x beyond the largest size measured")
    return " · ".join(out)


def headline(view) -> Headline:
    """The headline of an analysed experiment (``analysis.view.ResultsView``): the verdict's best
    variant at the smallest size it has a pair at."""
    best = view.best
    if view.frame.empty or best.empty:
        return Headline(sentence=view.answer, caveats=caveats(view))
    r = best.iloc[0]
    k_variants = view.verdict.comparisons["variant"].nunique()
    mult = _multiplier_row(view.multiplier.table, r["variant"], r["size"])
    px = view.spec.get("image_size") if view.spec.get("image_sizes") else None
    return Headline(sentence=_sentence(r, k_variants, mult, px), caveats=caveats(view, r, mult))


# -- the cards under the headline ---------------------------------------------------------------------
_OUTCOME_WORDS = {"win": "wins", "loss": "behind scratch", "tie": "within noise",
                  "test set unsure": "within the test set's noise"}


def card_note(r, n_comparisons: int) -> str:
    """The line under a card's gain: the verdict's word for it (after the correction it applies) and
    the interval, named as before correction, so a card never looks surer than the verdict."""
    if r["n_pairs"] < 2:
        return "1 seed: no interval"
    if r["outcome"] == "agree":
        return "seeds agree: no interval"
    word = _OUTCOME_WORDS.get(r["outcome"], r["outcome"])
    ci = f"95% CI {100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}"
    if n_comparisons > 1:
        return f"{word} after correcting for {n_comparisons} comparisons · {ci} before correction"
    return f"{word} · {ci}"


def card_help(r, k_variants: int, n_comparisons: int) -> str:
    text = f"Gain over scratch of {r['variant']}" + (f", the best of {k_variants} pretrained variants at this size"
                                                      if k_variants > 1 else "") + "."
    if n_comparisons > 1:
        text += (f" The verdict tests all {n_comparisons} variant x size comparisons together (Holm): a gain whose own "
                 "interval excludes zero can still be within noise once the number of comparisons is counted.")
    return text
