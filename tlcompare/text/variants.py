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


# Scratch first, then pretrained from fine-tune-all to linear probe, the random-features controls in
# the same order, then the small CNN.
_ARM_ORDER = {"scratch": 0, "pretrained": 1, "random": 2, "small_cnn": 3}
# Deeper than any model has stages: a run of a model since removed still finds its variant.
_MAX_DEPTH = 64


def depth_order(freeze) -> tuple[int, int]:
    """Sort key of a freezing depth as data (an int, "all", or None for an arm that does not freeze)."""
    if freeze is None:
        return (-1, 0)
    return (1, 0) if freeze == "all" else (0, int(freeze))


def variant_key(arm: str, freeze) -> tuple:
    """Sort key of a variant, from its arm and depth (the data), never from its name."""
    return (_ARM_ORDER.get(arm, len(_ARM_ORDER)), depth_order(freeze if arm in ("pretrained", "random") else None))


# Each variant name with the arm and depth it names: made by ``variant`` itself, so tables that
# carry only the names order them by data, and no name is ever taken apart.
VARIANT_DATA: dict[str, tuple[str, int | str | None]] = {
    **{variant(arm, None): (arm, None) for arm in ("scratch", "small_cnn")},
    **{variant(arm, d): (arm, d) for arm in ("pretrained", "random") for d in (*range(_MAX_DEPTH + 1), "all")},
}


def variant_order(variants) -> list[str]:
    """The variants (names) in reading order: see ``variant_key``; names not made here go last."""
    def key(name: str) -> tuple:
        arm, freeze = VARIANT_DATA.get(name, (name, None))
        return variant_key(arm, freeze)

    return sorted(set(variants), key=key)
