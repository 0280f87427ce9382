"""What people call a run: its variant ("pretrained, freeze 4") and its label with size and seed.

Plain Python, no pandas: the spec, the store and the worker's log name runs the way the charts do.
"""

from __future__ import annotations


def variant(arm: str, freeze) -> str:
    """The name of one line in the charts: scratch, pretrained at a depth, or the small CNN."""
    if arm == "pretrained":
        if freeze in (0, "0"):
            return "pretrained, fine-tune all"
        if freeze == "all":
            return "pretrained, linear probe"
        return f"pretrained, freeze {freeze}"
    if arm == "random":  # the control: the pretrained arm's freezing on a randomly initialised body
        return "random features, linear probe" if freeze == "all" else f"random features, freeze {freeze}"
    return {"scratch": "scratch", "small_cnn": "small CNN (scratch)"}.get(arm, arm)


def run_label(arm: str, size: int, seed: int, freeze) -> str:
    """'pretrained, linear probe · 5 per class · seed 0'."""
    return f"{variant(arm, freeze)} · {size} per class · seed {seed}"
