"""The label multiplier's figure: fitted learning curves over the measured points, and an arrow from each
pretrained point to where scratch's curve matches it, labelled "x K". Plotly only, in the style of
``tlcompare.charts.figures`` (its colours and layout), for Results and the report alike.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from tlcompare.analysis import anchored
from tlcompare.analysis.frames import variant_order
from tlcompare.charts.figures import _empty, _layout, _size_ticks, variant_colors

HINT = ("Each arrow runs from a pretrained result to the number of labelled images scratch needs for the same "
        "accuracy, walked along scratch's own curve from what scratch measured at that size: \"x 5\" means "
        "pretraining is worth five times your labels, \"> x 5\" at least that. A dotted curve is projected beyond "
        "the measured sizes, as far as a number is given.")
NO_ARROW_HINT = ("No arrow is drawn: scratch's accuracy does not grow over the measured sizes by more than "
                 "seed noise (or was measured at one size), so no number of labelled images can be read off its "
                 "curve. Measure scratch at more, or more widely spaced, sizes.")


def hint(table: pd.DataFrame) -> str:
    """The chart's caption: what its arrows mean, or why there are none."""
    if table.empty or (table["case"] == "flat").all():
        return NO_ARROW_HINT
    return HINT


TITLE = "Label multiplier: images per class scratch needs to match pretrained"


def _means(done: pd.DataFrame, metric: str) -> pd.DataFrame:
    return done.groupby("size")[metric].agg(["mean", "count"]).reset_index().sort_values("size")


def _curve(fig: go.Figure, m: pd.DataFrame, name: str, color: str, hi: float) -> None:
    n, y, w = m["size"].to_numpy(float), m["mean"].to_numpy(float), m["count"].to_numpy(float)
    xs, ys, px, py = anchored.curve_points(n, y, w, hi)
    fig.add_scatter(x=xs, y=100 * ys, mode="lines", line={"color": color, "width": 2.5}, name=f"{name} (curve)",
                    legendgroup=name, showlegend=False, hoverinfo="skip")
    if len(px):
        fig.add_scatter(x=px, y=100 * py, mode="lines", line={"color": color, "width": 2, "dash": "dot"},
                        legendgroup=name, showlegend=False, hoverinfo="skip")


def label_multiplier_chart(frame: pd.DataFrame, table: pd.DataFrame, metric: str = "test_acc",
                           large: bool = False) -> go.Figure:
    """``frame``: runs (``analysis.runs_frame``); ``table``: ``label_multiplier.multipliers(frame)``."""
    if table.empty:
        return _empty(TITLE, "Needs scratch at two or more sizes and a pretrained run", large)
    done = frame[(frame["status"] == "done") & frame[metric].notna()]
    shown = ["scratch", *variant_order(table["variant"])]
    colors = variant_colors(shown)
    scratch = _means(done[done["arm"] == "scratch"], metric)
    top = float(scratch["size"].max())
    numbers = table[table["case"].isin(["interpolated", "extrapolated"])]
    hi = max([top, *numbers["n_star"].astype(float)])
    fig = go.Figure()
    for var in shown:
        runs = done[done["variant"] == var]
        color = colors[var]
        fig.add_scatter(x=runs["size"], y=100 * runs[metric], mode="markers", name=var, legendgroup=var,
                        marker={"color": color, "size": 7, "opacity": 0.45},
                        hovertemplate="%{x} per class: %{y:.1f}% (one seed)<extra>" + var + "</extra>")
        m = _means(runs, metric)
        if len(m) >= 2:  # only scratch's curve is projected: the arrows end on it
            _curve(fig, m, var, color, hi if var == "scratch" else float(m["size"].max()))
    arrows = []
    # At one size the variants' arrows can lie a point apart: the highest arrow's label goes above it,
    # the others' below theirs, each lower one further down, so no two labels print over each other.
    rank = table.groupby("size")["target_acc"].rank(method="first", ascending=False).astype(int) - 1
    for (_, r), k in zip(table.iterrows(), rank, strict=True):
        arrows += _arrow(r, colors[r["variant"]], hi, shift=11 if k == 0 else -11 - 14 * (k - 1))
    # Set once: each add_annotation copies and validates every annotation before it (seconds at 40 arrows).
    fig.update_layout(annotations=[*fig.layout.annotations, *arrows])
    sizes = list(done["size"].unique())
    fig.update_xaxes(type="log", title="labelled training images per class (log scale)", **_size_ticks(sizes))
    fig.update_yaxes(title="test accuracy (%)", ticksuffix="%")
    return _layout(fig, TITLE, large, height=460)


def _arrow(r, color: str, hi: float, shift: int = 11) -> list[dict]:
    """The annotations of one arrow: from (N, the variant's accuracy) to (n*, the same accuracy), labelled
    with K; to the bound, labelled '> x K' or '< x K', where the measured sizes cannot say more, and to
    the edge of the drawn range where scratch never gets there."""
    size, y = float(r["size"]), 100 * float(r["target_acc"])
    n_star, case = float(r["n_star"]), r["case"]
    if case == "flat" or math.isnan(r["k"]):
        return []
    if case == "below range":
        end, label = float(r["k"]) * size, f"< x {r['k']:.2g}"
    elif case in ("above range", "beyond projection"):
        end, label = min(float(r["k"]) * size, hi), f"> x {r['k']:.2g}" if r["k"] < 10 else f"> x {r['k']:.0f}"
    elif case == "not reached":
        end, label = hi, "not reached"
    else:
        k = n_star / size
        end, label = n_star, f"x {k:.2g}" if k < 10 else f"x {k:.0f}"
    out = []
    if abs(math.log(end / size)) > 1e-6:
        out.append(dict(x=math.log10(end), y=y, ax=math.log10(size), ay=y, xref="x", yref="y", axref="x", ayref="y",
                        showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=2, arrowcolor=color, text=""))
    out.append(dict(x=math.log10(math.sqrt(size * end)), y=y, text=label, showarrow=False, yshift=shift,
                    font={"color": color}, xref="x", yref="y"))
    return out
