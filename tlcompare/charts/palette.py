"""One look per variant, the same in every chart, page and report, whatever else the experiment holds.

A variant's colour, line dash, marker and bar hatching depend on the variant's own name only (never on
its rank among the variants of one experiment), so "fine-tune all" is the same blue in every
experiment and in a report that overlays several. Hues are Okabe and Ito's set for colour-blind
viewers; each variant also has its own marker, and lines and bars differ in dash or hatching, so a
greyscale print or a washed-out projector still tells them apart.

Training-set sizes (the lines of the freezing chart) get a dark-to-light ramp with their own markers
and dashes: "5 per class" and "20 per class" never look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

# Okabe & Ito (2008), "Color Universal Design".
VERMILLION, BLUE, SKY_BLUE, BLACK = "#D55E00", "#0072B2", "#56B4E9", "#000000"
ORANGE, BLUISH_GREEN, REDDISH_PURPLE = "#E69F00", "#009E73", "#CC79A7"
GRAY_DARK, GRAY_LIGHT = "#4D4D4D", "#9A9A9A"  # random-feature controls: a baseline, not an answer

DEPTH_HUES = [REDDISH_PURPLE, ORANGE, BLUISH_GREEN]  # freeze 1, 2, 3, then again with another dash
DEPTH_SYMBOLS = ["triangle-up", "triangle-down", "pentagon", "hexagon", "star", "hourglass", "bowtie", "star-square",
                 "triangle-left", "triangle-right", "star-diamond", "hexagram"]
DEPTH_DASHES = ["longdash", "dashdot", "longdashdot"]
DEPTH_PATTERNS = ["\\", "-", "|", "+"]


@dataclass(frozen=True)
class Style:
    color: str
    dash: str  # plotly line dash
    symbol: str  # plotly marker symbol
    pattern: str  # plotly bar hatching ("" = solid)


FIXED = {
    "scratch": Style(VERMILLION, "solid", "circle", ""),
    "pretrained, fine-tune all": Style(BLUE, "solid", "square", "/"),
    "pretrained, linear probe": Style(SKY_BLUE, "dash", "diamond", "."),
    "small CNN (scratch)": Style(BLACK, "dot", "x", "x"),
}
UNKNOWN = Style(GRAY_DARK, "dot", "asterisk-open", "")
# A pinned baseline experiment drawn over this one: the variant's colour, a dotted line, open markers.
BASELINE_DASH = "dot"
BASELINE_WIDTH = 3


def _depth_style(depth: int) -> Style:
    i = depth - 1
    return Style(DEPTH_HUES[i % len(DEPTH_HUES)], DEPTH_DASHES[(i // len(DEPTH_HUES)) % len(DEPTH_DASHES)],
                 DEPTH_SYMBOLS[i % len(DEPTH_SYMBOLS)], DEPTH_PATTERNS[i % len(DEPTH_PATTERNS)])


def style(variant: str) -> Style:
    """The look of one variant, as ``analysis.variant`` names it."""
    if variant in FIXED:
        return FIXED[variant]
    if variant.startswith("pretrained, freeze "):
        depth = variant.rsplit(" ", 1)[-1]
        return _depth_style(int(depth)) if depth.isdigit() else UNKNOWN
    if variant.startswith("random features, "):
        # The pretrained variant's marker, open, in gray: a control reads as the shadow of its variant.
        twin = style("pretrained, " + variant.removeprefix("random features, "))
        gray = GRAY_DARK if variant.endswith("linear probe") else GRAY_LIGHT
        return Style(gray, "dot", twin.symbol + "-open", twin.pattern)
    return UNKNOWN


def baseline_symbol(variant: str) -> str:
    symbol = style(variant).symbol
    return symbol if symbol.endswith("-open") else symbol + "-open"


def colors(variants) -> dict[str, str]:
    return {v: style(v).color for v in variants}


# -- training-set sizes ------------------------------------------------------------------------------
# Dark to light with luminance far apart between neighbours picked for few sizes (viridis stops, the
# pale end left out: it vanishes on white).
SIZE_RAMP = ["#440154", "#3B528B", "#21918C", "#35B779", "#90D743", "#5C3A00", "#B35806", "#7F7F7F"]
SIZE_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "pentagon", "hexagon", "star", "x"]
SIZE_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid", "dash"]
# For n sizes, which ramp stops: the extremes first, so two sizes are dark purple against green.
_PICKS = {1: [0], 2: [0, 3], 3: [0, 2, 4], 4: [0, 1, 2, 4], 5: [0, 1, 2, 3, 4]}


def size_styles(sizes) -> dict[int, Style]:
    """Smallest size darkest; each size its own marker and dash."""
    sizes = sorted(set(int(s) for s in sizes))
    picks = _PICKS.get(len(sizes), list(range(len(SIZE_RAMP))))
    out = {}
    for i, s in enumerate(sizes):
        k = i % len(SIZE_RAMP)
        out[s] = Style(SIZE_RAMP[picks[k] if k < len(picks) else k], SIZE_DASHES[k], SIZE_SYMBOLS[k], "")
    return out


def luminance(hex_color: str) -> float:
    """Relative luminance (WCAG 2), 0 for black to 1 for white: what a greyscale copy keeps."""
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    h = hex_color.lstrip("#")
    r, g, b = (channel(int(h[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
