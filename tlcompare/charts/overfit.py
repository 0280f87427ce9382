"""The overfitting chart: per run, training accuracy (no augmentation) against validation accuracy
over the epochs, the gap between them shaded and named in points. One panel per variant, for one
training-set size and seed, so every panel holds exactly two lines."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tlcompare.analysis.frames import variant_order
from tlcompare.analysis.overfitting import AUGMENTED, PLAIN
from tlcompare.charts.figures import _empty, _layout, _rgba, variant_colors

KEY_COLOR = "#444"


def overfit_chart(curves: pd.DataFrame, gaps: pd.DataFrame, size: int, seed: int, large: bool = False) -> go.Figure:
    """``curves``/``gaps``: overfitting.overfit_curves / overfit_gaps of an experiment's runs."""
    title = f"Overfitting: training vs validation accuracy, {size} per class, seed {seed}"
    d = curves[(curves["size"] == size) & (curves["seed"] == seed)] if not curves.empty else curves
    if d.empty:
        return _empty(title, "No finished run at this size and seed", large)
    variants = variant_order(d["variant"])
    colors = variant_colors(variants)
    gap = {r["variant"]: r["gap"] for _, r in gaps[(gaps["size"] == size) & (gaps["seed"] == seed)].iterrows()}
    ncols = min(3, len(variants))
    nrows = math.ceil(len(variants) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=True, horizontal_spacing=0.04, vertical_spacing=0.26,
                        subplot_titles=[_panel_title(v, gap.get(v)) for v in variants])
    augmented_seen = False
    for i, var in enumerate(variants):
        row, col = i // ncols + 1, i % ncols + 1
        run = d[d["variant"] == var].sort_values("epoch")
        color = colors[var]
        augmented = (run["train_measured"] == AUGMENTED).any()
        augmented_seen |= bool(augmented)
        fig.add_scatter(x=run["epoch"], y=100 * run["val_acc"], mode="lines+markers", showlegend=False,
                        line={"color": color, "width": 3}, marker={"size": 6},
                        hovertemplate="epoch %{x}: validation %{y:.1f}%<extra>" + var + "</extra>", row=row, col=col)
        # Filled back to the validation line: the shaded band is the gap.
        fig.add_scatter(x=run["epoch"], y=100 * run["train_acc"], mode="lines+markers", showlegend=False,
                        line={"color": color, "width": 2, "dash": "dot" if augmented else "dash"}, marker={"size": 5},
                        fill="tonexty", fillcolor=_rgba(color, 0.15),
                        hovertemplate="epoch %{x}: training " + ("(augmented) " if augmented else "") + "%{y:.1f}%"
                                      "<extra>" + var + "</extra>", row=row, col=col)
    # The key, once, in a neutral colour: every panel uses its variant's colour for both lines.
    keys = [("validation", "solid"), (f"{PLAIN} (no augmentation)", "dash")]
    if augmented_seen:
        keys.append((f"{AUGMENTED} (older runs)", "dot"))
    for name, dash in keys:
        fig.add_scatter(x=[None], y=[None], mode="lines", name=name, line={"color": KEY_COLOR, "width": 2.5, "dash": dash},
                        row=1, col=1)
    fig.update_yaxes(ticksuffix="%", range=[0, 102])
    fig.update_yaxes(title="accuracy", col=1)
    fig.update_xaxes(dtick=1 if d["epoch"].max() <= 12 else None)  # whole epochs, not 1.5
    fig.update_xaxes(title="epoch", row=nrows)
    fig = _layout(fig, title, large, height=320 + 240 * nrows, legend_right=True)
    fig.update_layout(margin={"t": 110 if large else 90})  # room for the two-line panel titles under the title
    fig.update_annotations(font_size=(18 if large else 13))
    return fig


def _panel_title(var: str, gap: float | None) -> str:
    # Two lines: three long variant names side by side would run into each other.
    if gap is None or not math.isfinite(gap):
        return f"{var}<br>gap not measured"
    return f"{var}<br>gap {gap:+.1f} pts"
