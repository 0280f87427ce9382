"""Did each run finish learning? Flags for runs that end underfit or still improving: plain pandas.

A comparison is only fair when both arms got what they needed: an arm stopped while it still
fits its own training images badly, or while its validation accuracy is still rising, is
measured on its budget, not on its ability. The flags say which runs those are and what to change.

- **underfit**: the reported model gets fewer than ``UNDERFIT_TRAIN_ACC`` of its own training
  images right, measured once at the end on the un-augmented training subset (``train_acc_clean``;
  one forward pass). Runs recorded before that measurement fall back to the last epoch's running
  training accuracy (augmented images, averaged over an epoch of a changing model), and say so.
- **still improving**: over the last fifth of the epochs (at least 3), validation accuracy rose:
  the least-squares line through that window climbs at least ``RISING_POINTS`` of accuracy across
  it, and the window holds a new best. Needs 5 epochs or more.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tlcompare.analysis.frames import variant

UNDERFIT_TRAIN_ACC = 0.9
RISING_POINTS = 0.01  # one point of accuracy across the window: more than a single image of noise on most validation sets
MIN_EPOCHS = 5

FLAG_COLUMNS = ["variant", "arm", "size", "seed", "freeze", "budget", "stop_reason", "epochs_done", "train_acc",
                "train_acc_source", "val_rise", "underfit", "still_improving", "flag", "fix"]


def still_rising(val_acc: list[float]) -> tuple[bool, float]:
    """Whether validation accuracy still rises over the last fifth of training, and by how much (fitted)."""
    vals = np.asarray([v for v in val_acc if v is not None and math.isfinite(v)], dtype=float)
    if len(vals) < MIN_EPOCHS:
        return False, float("nan")
    w = max(3, math.ceil(len(vals) / 5))
    window, before = vals[-w:], vals[:-w]
    slope = float(np.polyfit(np.arange(w), window, 1)[0])
    rise = slope * (w - 1)
    return bool(rise >= RISING_POINTS and window.max() > before.max()), rise


def _fix(budget: str | None, stop_reason: str | None, underfit: bool, rising: bool, frozen: bool) -> str:
    if not (underfit or rising):
        return ""
    if budget == "converged":
        if stop_reason == "cap":
            fix = "raise 'At most (epochs)'"
        else:
            fix = "longer patience or a higher learning rate" if underfit else "longer patience"
    else:
        # The form's words, not the config's: the budget a reader picks is "until converged".
        fix = f"{'more steps' if budget == 'steps' else 'more epochs'}, or the budget 'until converged'"
    # A frozen body may lack what this data needs however long the head trains.
    return fix + ("; or freeze less" if underfit and frozen else "")


def flags_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per finished run: its convergence flags and the fix for each flagged run."""
    rows = []
    for r in runs:
        if r.get("status") != "done":
            continue
        final = r.get("final") or {}
        epochs = r.get("epochs") or []
        if "train_acc_clean" in final:
            train_acc, source = final["train_acc_clean"], "clean"
        else:
            # An epoch record without it (hand-written, or from a tool that kept less) reads as unknown.
            last = epochs[-1].get("train_acc") if epochs else None
            train_acc, source = final.get("train_acc", float("nan") if last is None else last), "running"
        underfit = train_acc is not None and math.isfinite(train_acc) and train_acc < UNDERFIT_TRAIN_ACC
        rising, rise = still_rising([e.get("val_acc") for e in epochs])
        # Runs from before budgets existed trained under equal epochs.
        budget = r.get("budget") or "epochs"
        flag = ", ".join(f for f, on in (("underfit", underfit), ("still improving", rising)) if on)
        rows.append({"variant": variant(r["arm"], r.get("freeze")), "arm": r["arm"], "size": int(r["size"]),
                     "seed": int(r["seed"]), "freeze": "" if r.get("freeze") is None else str(r["freeze"]),
                     "budget": budget, "stop_reason": r.get("stop_reason"), "epochs_done": len(epochs),
                     "train_acc": train_acc, "train_acc_source": source, "val_rise": rise, "underfit": underfit,
                     "still_improving": rising, "flag": flag, "fix": _fix(budget, r.get("stop_reason"), underfit, rising,
                                                                  frozen=r.get("freeze") not in (None, 0, "0"))})
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def flag_lines(flags: pd.DataFrame) -> list[str]:
    """One sentence per flagged variant and size, seeds together: what is wrong and the fix."""
    bad = flags[flags["flag"] != ""] if not flags.empty else flags
    if bad.empty:
        return []
    lines = []
    for (var, size, flag, fix), g in bad.groupby(["variant", "size", "flag", "fix"], sort=True):
        seeds = ", ".join(str(s) for s in sorted(g["seed"]))
        detail = []
        if "underfit" in flag:
            source = "" if (g["train_acc_source"] == "clean").all() else ", running average of augmented batches"
            accs = ", ".join(f"{100 * a:.1f}%" for a in g.sort_values("seed")["train_acc"])  # in % as everywhere
            detail.append(f"training accuracy {accs}{source}")
        if "still improving" in flag:
            rises = ", ".join(f"{100 * x:+.1f}" for x in g.sort_values("seed")["val_rise"])
            detail.append(f"validation rose {rises} points over the last fifth")
        lines.append(f"{var} at {size}/class (seed{'s' if len(g) > 1 else ''} {seeds}): {flag} "
                     f"({'; '.join(detail)}). Fix: {fix}.")
    return lines


def flags_summary(flags: pd.DataFrame) -> str:
    """One line: how many runs were flagged, or that none were."""
    if flags.empty:
        return ""
    n_under, n_rise = int(flags["underfit"].sum()), int(flags["still_improving"].sum())
    if not (n_under or n_rise):
        return f"Convergence: none of {len(flags)} runs ended underfit or still improving."
    return (f"Convergence: {n_under} of {len(flags)} runs ended underfit (training accuracy below "
            f"{100 * UNDERFIT_TRAIN_ACC:.0f}%), {n_rise} still improving: their accuracy shows the budget, not what the arm can reach.")


_BUDGET_WORDS = {"epochs": "equal epochs", "steps": "equal optimizer steps",
                 "converged": "train until validation accuracy stops improving"}
_STOP_WORDS = {"plateau": "stopped on a plateau", "cap": "stopped at max_epochs", "epochs": "ran their epochs",
               "steps": "ran their steps"}


def lead_caveat(flags: pd.DataFrame) -> str:
    """What the headline must carry when runs did not finish learning: a gap between underfit runs
    measures the training budget as much as the data ('' when every run finished learning)."""
    if flags.empty:
        return ""
    n = int((flags["underfit"] | flags["still_improving"]).sum())
    if not n:
        return ""
    return (f"(Careful: {n} of {len(flags)} runs did not finish learning, so this may show the training budget "
            "more than the data; see Convergence.)")


def provisional(flags: pd.DataFrame) -> str:
    """What the verdict says first while any compared run did not finish learning ('' once all did):
    a gap between runs that stopped early can show the budget rather than the data."""
    if flags.empty:
        return ""
    n = int((flags["underfit"] | flags["still_improving"]).sum())
    return f"Provisional: {n} of {len(flags)} runs did not finish learning (see Convergence)." if n else ""


def budget_line(runs: list[dict]) -> str:
    """Which training budget the finished runs had, how long they trained and why they stopped."""
    done = [r for r in runs if r.get("status") == "done"]
    if not done:
        return ""
    budgets = sorted({r.get("budget") or "epochs" for r in done})
    name = " and ".join(f"{b} ({_BUDGET_WORDS.get(b, b)})" for b in budgets)
    epochs = [r.get("epochs_done") or len(r.get("epochs") or []) for r in done]
    stops: dict[str, int] = {}
    for r in done:
        reason = r.get("stop_reason") or "epochs"
        stops[reason] = stops.get(reason, 0) + 1
    how = ", ".join(f"{n} {_STOP_WORDS.get(s, s)}" for s, n in sorted(stops.items()))
    span = f"{min(epochs)}" if min(epochs) == max(epochs) else f"{min(epochs)} to {max(epochs)}"
    mixed = " Runs under different budgets do not compare." if len(budgets) > 1 else ""
    return f"Budget: {name}; {span} epochs per run; {how}.{mixed}"
