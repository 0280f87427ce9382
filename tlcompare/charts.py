"""Every figure of the dashboard and the report, built from tlcompare.analysis frames.

One function per chart, plotly only, no Streamlit: the report renders the same figures, so a chart
looks the same on screen, in a design review and in an exported file. ``large=True`` scales the
type for a projector. Each chart has a one-line hint in ``HINTS`` saying what to look for.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tlcompare.analysis import variant_order
from tlcompare.escape import plotly_text

HINTS = {
    "gap": "Bars above zero: pretrained beats scratch on the same images and seed. A bar whose whisker "
           "crosses zero is within noise.",
    "data_efficiency": "Where the lines are far apart, the choice of initialisation matters; where they meet, "
                       "enough labels make pretraining unnecessary.",
    "freezing": "A falling line means the frozen layers do not fit this data: fine-tune more of the network. "
                "A flat line means a cheap linear probe is enough.",
    "learning": "Pretrained runs usually start higher and converge in fewer epochs. Dashed: accuracy on the "
                "augmented training batches, which can sit below validation; Overfitting compares the plain "
                "training images with validation.",
    "time_to_target": "Shorter bars reach the target sooner. A missing bar means no seed reached it.",
    "training_time": "What each arm costs in training time over the whole experiment: freezing skips the "
                     "backward pass through the frozen layers.",
    "confusion": "The diagonal holds correct predictions; bright cells off the diagonal are the classes a "
                 "model confuses.",
    "gallery": "Test images each arm gets wrong (true label → prediction): do the mistakes look like "
               "genuinely hard cases, or like a model that never learnt the task?",
    "live": "Validation accuracy per epoch of every run so far, one panel per training-set size.",
}

SCRATCH = "#D55E00"
SMALL_CNN = "#009E73"
RANDOM_FEATURES = ["#525252", "#969696"]  # the random-init controls: gray, they are a baseline, not an answer
PRETRAINED = ["#08306B", "#1C5FA8", "#3A86C8", "#6BAED6", "#9ECAE1"]  # fine-tune all ... linear probe
SIZE_SCALE = ["#440154", "#3B528B", "#21918C", "#5EC962", "#B8A300", "#E08A00", "#C0392B", "#7F3C8D"]
FONT = "Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif"


def variant_colors(variants) -> dict[str, str]:
    """Scratch in vermillion, pretrained in blues (darker = more of the network trained), random-feature
    controls in grays, small CNN green."""
    ordered = variant_order(variants)
    pre = [v for v in ordered if v.startswith("pretrained")]
    colors = {}
    for v in ordered:
        if v == "scratch":
            colors[v] = SCRATCH
        elif v.startswith("pretrained"):
            i = pre.index(v)
            colors[v] = PRETRAINED[round(i * (len(PRETRAINED) - 1) / max(1, len(pre) - 1))] if len(pre) > 1 else PRETRAINED[1]
        elif v.startswith("random features"):
            colors[v] = RANDOM_FEATURES[0] if v.endswith("linear probe") else RANDOM_FEATURES[1]
        else:
            colors[v] = SMALL_CNN
    return colors


def size_colors(sizes) -> dict[int, str]:
    sizes = sorted(set(int(s) for s in sizes))
    n = len(sizes)
    return {s: SIZE_SCALE[round(i * (len(SIZE_SCALE) - 1) / max(1, n - 1))] if n > 1 else SIZE_SCALE[2]
            for i, s in enumerate(sizes)}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, large: bool, height: int = 420, legend: bool = True,
            legend_right: bool = False) -> go.Figure:
    base = 20 if large else 13
    fig.update_layout(
        title={"text": title, "font": {"size": base + 5}, "x": 0, "xanchor": "left"},
        font={"family": FONT, "size": base},
        template="plotly_white",
        height=int(height * (1.25 if large else 1)),
        margin={"l": 10, "r": 10, "t": 70 if legend else 50, "b": 10},
        hoverlabel={"font_size": base},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0,
                "font": {"size": base}, "title": {"text": ""}},
    )
    if legend_right:  # above the panels it would cover their titles
        fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.01},
                          margin={"t": 50})
    fig.update_xaxes(showline=True, linecolor="#888", gridcolor="#E8E8E8", automargin=True)
    fig.update_yaxes(showline=True, linecolor="#888", gridcolor="#E8E8E8", automargin=True)
    return fig


def _size_ticks(sizes) -> dict:
    values = sorted(set(int(s) for s in sizes))
    return {"tickmode": "array", "tickvals": values, "ticktext": [str(v) for v in values]}


def _empty(title: str, message: str, large: bool) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 22 if large else 15, "color": "#777"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, large, height=260, legend=False)


# -- the answer ---------------------------------------------------------------------------------------
def gap_chart(diffs: pd.DataFrame, large: bool = False) -> go.Figure:
    """Paired gain over scratch (points) per size, with its 95 % CI over seeds: the answer at a glance."""
    title = "Gain over training from scratch (accuracy points, same images and seed)"
    if diffs.empty:
        return _empty(title, "No finished scratch/pretrained pairs yet", large)
    colors = variant_colors(list(diffs["variant"]) + ["scratch"])
    sizes = sorted(diffs["size"].unique())
    fig = go.Figure()
    for var in variant_order(diffs["variant"]):
        d = diffs[diffs["variant"] == var].sort_values("size")
        half = (100 * d["ci95"]).where(d["ci95"].notna(), None)
        fig.add_bar(
            x=[str(s) for s in d["size"]], y=100 * d["mean_diff"], name=var, marker_color=colors[var],
            error_y={"type": "data", "array": half.tolist(), "visible": True, "thickness": 2, "width": 6,
                     "color": "#333"},
            customdata=np.stack([d["n_pairs"], 100 * d["ci_low"].fillna(np.nan), 100 * d["ci_high"].fillna(np.nan)], axis=1),
            hovertemplate="%{x} per class: %{y:+.1f} pts<br>95% CI [%{customdata[1]:+.1f}, %{customdata[2]:+.1f}]"
                          "<br>%{customdata[0]} seed pairs<extra>" + var + "</extra>",
        )
    fig.add_hline(y=0, line={"color": "#333", "width": 1.5})
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(title="labelled training images per class", type="category",
                     categoryorder="array", categoryarray=[str(s) for s in sizes])
    fig.update_yaxes(title="pretrained minus scratch (points)", zeroline=False)
    return _layout(fig, title, large)


def data_efficiency(summary: pd.DataFrame, baseline: pd.DataFrame | None = None, baseline_name: str = "baseline",
                    large: bool = False) -> go.Figure:
    """Test accuracy vs examples per class (log x): one line per variant, band = 95 % CI over seeds."""
    title = "Data efficiency: test accuracy vs labelled images per class (band: range over seeds)"
    if summary.empty:
        return _empty(title, "No finished runs yet", large)
    colors = variant_colors(summary["variant"])
    fig = go.Figure()
    for var in variant_order(summary["variant"]):
        d = summary[summary["variant"] == var].sort_values("size")
        color = colors[var]
        if (d["n_seeds"] > 1).any() and "min" in d:
            # The band spans every seed (min to max): the seeds' spread at a glance. The interval
            # on the mean is in the table, where a two-seed t-interval's width cannot swamp the chart.
            x = list(d["size"]) + list(d["size"])[::-1]
            fig.add_scatter(x=x, y=list(100 * d["max"]) + list(100 * d["min"])[::-1], fill="toself", mode="lines",
                            fillcolor=_rgba(color, 0.15), line={"width": 0}, hoverinfo="skip", showlegend=False,
                            legendgroup=var)
        fig.add_scatter(
            x=d["size"], y=100 * d["mean"], mode="lines+markers", name=var, legendgroup=var,
            line={"color": color, "width": 3}, marker={"size": 9},
            customdata=np.stack([d["n_seeds"], 100 * d.get("min", d["mean"]), 100 * d.get("max", d["mean"])], axis=1),
            hovertemplate="%{x} per class: %{y:.1f}% (seeds from %{customdata[1]:.1f} to %{customdata[2]:.1f}%, "
                          "%{customdata[0]} seeds)<extra>" + var + "</extra>",
        )
    if baseline is not None and not baseline.empty:
        bcolors = variant_colors(baseline["variant"])
        for var in variant_order(baseline["variant"]):
            d = baseline[baseline["variant"] == var].sort_values("size")
            fig.add_scatter(x=d["size"], y=100 * d["mean"], mode="lines", name=f"{baseline_name}: {var}",
                            line={"color": _rgba(bcolors[var], 0.55), "width": 2, "dash": "dash"},
                            hovertemplate="%{x} per class: %{y:.1f}%<extra>" + f"{baseline_name}: {var}" + "</extra>")
    all_sizes = list(summary["size"]) + (list(baseline["size"]) if baseline is not None and not baseline.empty else [])
    fig.update_xaxes(type="log", title="labelled training images per class (log scale)", **_size_ticks(all_sizes))
    fig.update_yaxes(title="test accuracy (%)", rangemode="tozero", ticksuffix="%")
    return _layout(fig, title, large)


def freezing_depth(depths: pd.DataFrame, stage_names: list[str] | None = None, large: bool = False) -> go.Figure:
    """Test accuracy vs freezing depth, one line per size; scratch as an unconnected reference point."""
    title = "Freezing depth: how much of the pretrained network to keep fixed"
    pre = depths[depths["arm"] == "pretrained"] if not depths.empty else depths
    if pre.empty:
        return _empty(title, "No finished pretrained runs yet", large)
    stage_names = stage_names or []

    def label(freeze: str) -> str:
        if freeze == "scratch":
            return "scratch"
        if freeze == "0":
            return "0: fine-tune all"
        if freeze == "all":
            return "all: linear probe"
        d = int(freeze)
        last = stage_names[d - 1] if 0 < d <= len(stage_names) else f"stage {d}"
        return f"{d}: up to {last}"

    order = list(dict.fromkeys(label(f) for f in depths["freeze"]))  # depth_summary is sorted already
    colors = size_colors(depths["size"])
    fig = go.Figure()
    for size in sorted(depths["size"].unique()):
        d = depths[depths["size"] == size]
        p, s = d[d["arm"] == "pretrained"], d[d["arm"] == "scratch"]
        name = f"{size} per class"
        fig.add_scatter(
            x=[label(f) for f in p["freeze"]], y=100 * p["mean"], mode="lines+markers", name=name, legendgroup=name,
            line={"color": colors[size], "width": 3}, marker={"size": 9},
            error_y={"type": "data", "array": (100 * p["ci95"].fillna(0)).tolist(), "visible": bool(p["ci95"].notna().any()),
                     "thickness": 1.5, "width": 4},
            customdata=p["trainable_params"] / 1e6,
            hovertemplate="%{x}: %{y:.1f}%<br>%{customdata:.2f} M trainable parameters<extra>" + name + "</extra>",
        )
        if not s.empty:
            fig.add_scatter(x=["scratch"] * len(s), y=100 * s["mean"], mode="markers", legendgroup=name, showlegend=False,
                            marker={"color": colors[size], "size": 12, "symbol": "circle-open", "line": {"width": 2.5}},
                            hovertemplate="scratch: %{y:.1f}%<extra>" + name + "</extra>")
    fig.update_xaxes(title="frozen stages (pretrained)", type="category", categoryorder="array", categoryarray=order)
    fig.update_yaxes(title="test accuracy (%)", ticksuffix="%")
    return _layout(fig, title, large)


# -- over time ----------------------------------------------------------------------------------------
def _facets(sizes: list[int], vertical_spacing: float, cols: int = 4) -> tuple[go.Figure, int, int]:
    """One panel per training-set size, sharing the accuracy axis: (figure, rows, columns)."""
    ncols = min(cols, len(sizes))
    nrows = math.ceil(len(sizes) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=vertical_spacing, subplot_titles=[f"{s} per class" for s in sizes])
    return fig, nrows, ncols


def learning_curves(curves: pd.DataFrame, x: str = "epoch", sizes: list[int] | None = None,
                    large: bool = False) -> go.Figure:
    """Train (dashed) and validation (solid, with band) accuracy per epoch or per training second,
    one panel per size, one colour per variant."""
    per = "per second of training" if x == "seconds" else "per epoch"
    title = f"Learning curves {per}: train (dashed) and validation (solid) accuracy"
    if curves.empty:
        return _empty(title, "No epochs recorded yet", large)
    sizes = sorted(sizes or curves["size"].unique())
    curves = curves[curves["size"].isin(sizes)]
    fig, nrows, ncols = _facets(sizes, vertical_spacing=0.14)
    colors = variant_colors(curves["variant"])
    shown: set[str] = set()
    for i, size in enumerate(sizes):
        row, col = i // ncols + 1, i % ncols + 1
        for var in variant_order(curves["variant"]):
            d = curves[(curves["size"] == size) & (curves["variant"] == var)]
            if d.empty:
                continue
            color = colors[var]
            val, train = d[d["metric"] == "val_acc"].sort_values("epoch"), d[d["metric"] == "train_acc"].sort_values("epoch")
            xs = val[x] if x in val else val["epoch"]
            if (val["n"] > 1).any():
                fig.add_scatter(x=list(xs) + list(xs)[::-1], y=list(100 * val["high"]) + list(100 * val["low"])[::-1],
                                fill="toself", mode="lines", fillcolor=_rgba(color, 0.13), line={"width": 0}, hoverinfo="skip",
                                showlegend=False, legendgroup=var, row=row, col=col)
            fig.add_scatter(x=xs, y=100 * val["mean"], mode="lines", name=var, legendgroup=var, showlegend=var not in shown,
                            line={"color": color, "width": 2.5},
                            hovertemplate=f"{size}/class, " + ("%{x:.1f} s" if x == "seconds" else "epoch %{x}")
                            + ": val %{y:.1f}%<extra>" + var + "</extra>", row=row, col=col)
            if not train.empty:
                fig.add_scatter(x=train[x] if x in train else train["epoch"], y=100 * train["mean"], mode="lines",
                                legendgroup=var, showlegend=False, line={"color": color, "width": 1.5, "dash": "dash"},
                                hovertemplate=f"{size}/class: train %{{y:.1f}}%<extra>{var}</extra>", row=row, col=col)
            shown.add(var)
    fig.update_yaxes(ticksuffix="%", range=[0, 102])
    fig.update_yaxes(title="accuracy", col=1)
    fig.update_xaxes(title="training seconds" if x == "seconds" else "epoch", row=nrows)
    fig = _layout(fig, title, large, height=300 + 240 * nrows, legend_right=True)
    fig.update_annotations(font_size=(18 if large else 13))
    return fig


LIVE_LINES_PER_PANEL = 12  # above this many runs in one panel, finished seeds become a band


def live_curves(epochs: pd.DataFrame, large: bool = False) -> go.Figure:
    """Validation accuracy per epoch of every run (one thin line per seed), one panel per size.

    A panel of more than LIVE_LINES_PER_PANEL runs draws, per variant, the mean and min-max band
    of its finished seeds, and only the runs still training as their own lines: hundreds of lines
    are unreadable and slow to draw."""
    title = "Validation accuracy while training"
    if epochs.empty:
        return _empty(title, "Waiting for the first epoch…", large)
    sizes = sorted(epochs["size"].unique())
    fig, nrows, ncols = _facets(sizes, vertical_spacing=0.16)
    colors = variant_colors(epochs["variant"])
    shown: set[str] = set()
    for i, size in enumerate(sizes):
        row, col = i // ncols + 1, i % ncols + 1
        panel = epochs[epochs["size"] == size]
        if panel.groupby(["variant", "seed"]).ngroups > LIVE_LINES_PER_PANEL:
            running = panel.groupby(["variant", "seed"])["status"].transform(lambda s: (s == "running").any())
            for var, d in panel[~running].groupby("variant", sort=True):
                band = d.groupby("epoch")["val_acc"].agg(["mean", "min", "max", "size"]).reset_index()
                xs = list(band["epoch"])
                fig.add_scatter(x=xs + xs[::-1], y=list(100 * band["max"]) + list(100 * band["min"])[::-1], fill="toself",
                                mode="lines", fillcolor=_rgba(colors[var], 0.15), line={"width": 0}, hoverinfo="skip",
                                showlegend=False, legendgroup=var, row=row, col=col)
                fig.add_scatter(x=xs, y=100 * band["mean"], mode="lines", name=var, legendgroup=var,
                                showlegend=var not in shown, line={"color": colors[var], "width": 2},
                                customdata=band["size"],
                                hovertemplate=f"{size}/class, epoch %{{x}}: mean val %{{y:.1f}}% over %{{customdata}} "
                                f"runs<extra>{var}</extra>", row=row, col=col)
                shown.add(var)
            panel = panel[running]
        for (var, seed), d in panel.groupby(["variant", "seed"], sort=True):
            d = d.sort_values("epoch")
            running = (d["status"] == "running").any()
            fig.add_scatter(x=d["epoch"], y=100 * d["val_acc"], mode="lines+markers", name=var, legendgroup=var,
                            showlegend=var not in shown, line={"color": colors[var], "width": 3.5 if running else 2},
                            marker={"size": 7 if running else 5}, opacity=1.0 if running else 0.8,
                            hovertemplate=f"{size}/class seed {seed}, epoch %{{x}}: val %{{y:.1f}}%<extra>{var}</extra>",
                            row=row, col=col)
            shown.add(var)
    fig.update_yaxes(ticksuffix="%", range=[0, 102])
    fig.update_yaxes(title="validation accuracy", col=1)
    fig.update_xaxes(title="epoch", row=nrows, dtick=1 if epochs["epoch"].max() <= 12 else None)
    fig = _layout(fig, title, large, height=260 + 220 * nrows, legend_right=True)
    fig.update_annotations(font_size=(18 if large else 13))
    return fig


def time_to_target(summary: pd.DataFrame, target: float, large: bool = False) -> go.Figure:
    """Median training seconds to reach ``target`` validation accuracy, per variant and size."""
    title = f"Time to reach {100 * target:.0f}% validation accuracy (median over seeds)"
    if summary.empty:
        return _empty(title, "No epochs recorded yet", large)
    colors = variant_colors(summary["variant"])
    sizes = [str(s) for s in sorted(summary["size"].unique())]
    fig = go.Figure()
    for var in variant_order(summary["variant"]):
        d = summary[summary["variant"] == var].sort_values("size")
        text = [("" if n == t else f"{n}/{t} seeds") if n else "not reached"
                for n, t in zip(d["n_reached"], d["n_runs"], strict=True)]
        fig.add_bar(x=[str(s) for s in d["size"]], y=d["median_seconds"].fillna(0), name=var, marker_color=colors[var],
                    text=text, textposition="outside", cliponaxis=False, textangle=-90,  # side by side, never overlapping
                    customdata=np.stack([d["n_reached"], d["n_runs"]], axis=1),
                    hovertemplate="%{x} per class: %{y:.1f} s (%{customdata[0]} of %{customdata[1]} seeds reached it)"
                                  "<extra>" + var + "</extra>")
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(title="labelled training images per class", type="category", categoryorder="array",
                     categoryarray=sizes)
    fig.update_yaxes(title="training seconds", rangemode="tozero")
    return _layout(fig, title, large)


def training_time(table: pd.DataFrame, large: bool = False) -> go.Figure:
    """Total training seconds per variant over the whole experiment, with seconds per run and per step,
    on the one machine ``analysis.training_time`` kept (named in the title)."""
    machine = table["machine"].iloc[0] if "machine" in table and len(table) and table["machine"].iloc[0] else None
    title = "Total training time per arm" + (f" on {machine}" if machine else "")
    if table.empty:
        return _empty(title, "No finished runs yet", large)
    colors = variant_colors(table["variant"])
    order = variant_order(table["variant"])[::-1]  # horizontal bars list top-down
    t = table.set_index("variant").loc[order]
    fig = go.Figure(go.Bar(
        y=order, x=t["total_seconds"], orientation="h", marker_color=[colors[v] for v in order],
        text=[f"{s:.1f} s total · {p:.1f} s per run" + (f" · {1000 * c:.0f} ms per step" if c == c else "")
              for s, p, c in zip(t["total_seconds"], t["seconds_per_run"],
                                 t["seconds_per_step"] if "seconds_per_step" in t else [float("nan")] * len(t), strict=True)],
        textposition="auto", hovertemplate="%{y}: %{x:.1f} s<extra></extra>",
    ))
    fig.update_xaxes(title="training seconds (sum over runs)", rangemode="tozero")
    return _layout(fig, title, large, height=120 + 60 * len(order), legend=False)


# -- errors -------------------------------------------------------------------------------------------
def confusion(matrix: list[list[int]], class_names: list[str], title: str, large: bool = False) -> go.Figure:
    """Row-normalised confusion matrix (share of each true class), with counts on hover."""
    m = np.asarray(matrix, dtype=float)
    if m.size == 0:
        return _empty(title, "No confusion matrix for this run", large)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    names = class_names if len(class_names) == len(m) else [str(i) for i in range(len(m))]
    # plotly renders a subset of HTML in labels: escape names that come from the user's folders.
    short = [plotly_text(n if len(n) <= 14 else n[:13] + "…") for n in names]
    show_text = len(m) <= 12
    fig = go.Figure(go.Heatmap(
        z=100 * share, x=short, y=short, colorscale="Blues", zmin=0, zmax=100, customdata=m,
        text=np.where(m > 0, m.astype(int).astype(str), "") if show_text else None,
        texttemplate="%{text}" if show_text else None,
        colorbar={"title": {"text": "% of row"}, "ticksuffix": "%"},
        hovertemplate="true %{y} → predicted %{x}: %{customdata:.0f} images (%{z:.0f}% of %{y})<extra></extra>",
    ))
    fig.update_xaxes(title="predicted", type="category", side="bottom")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    size = 360 + 12 * len(m)
    return _layout(fig, title, large, height=size, legend=False)
