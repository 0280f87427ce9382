"""Every figure of the dashboard and the report, built from tlcompare.analysis.frames frames.

One function per chart, plotly only, no Streamlit: the report renders the same figures, so a chart
looks the same on screen, in a design review and in an exported file. ``large=True`` scales the
type for a projector. Each chart has a one-line hint in ``HINTS`` saying what to look for.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from tlcompare.analysis.frames import variant_order
from tlcompare.charts import palette
from tlcompare.text.escape import plotly_text
from tlcompare.text.summaries import duration
from tlcompare.text.variants import depth_order

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
    "time_to_target": ("Shorter bars reach the target sooner. A missing bar means no seed reached it. \"cached "
                       "features\": a linear probe whose seconds are its head's only (the frozen body's features were "
                       "computed once for the whole experiment)."),
    "training_time": "What each arm costs in training time over the whole experiment: freezing skips the "
                     "backward pass through the frozen layers.",
    "confusion": "The diagonal holds correct predictions; bright cells off the diagonal are the classes a "
                 "model confuses.",
    "gallery": "Test images each arm gets wrong (true label → prediction): do the mistakes look like "
               "genuinely hard cases, or like a model that never learnt the task?",
    "live": "Validation accuracy per epoch of every run so far, one panel per training-set size.",
}

FONT = "Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif"
NO_INTERVAL = "1 seed: no interval"


def variant_colors(variants) -> dict[str, str]:
    """Each variant's colour from tlcompare.charts.palette: fixed by the variant, not by its rank here."""
    return palette.colors(variants)


def size_colors(sizes) -> dict[int, str]:
    return {s: st.color for s, st in palette.size_styles(sizes).items()}


# Every chart is drawn on plotly_white. As plotly's default template a figure gets it when created, applied
# without validation (0.4 ms); set per figure through update_layout it is validated and copied each time
# (13 ms a figure, a tenth of a cold Results page at 320 runs). The dashboard and the report make no other
# figures, so the process-wide default changes nothing else.
pio.templates.default = "plotly_white"


def _rgba(hex_color: str, alpha: float) -> str:
    return palette.rgba(hex_color, alpha)


def _legend_width(fig: go.Figure, base: int) -> float:
    """Roughly how wide a one-row legend of ``fig`` would be, in pixels."""
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]
    return sum(0.56 * base * len(n) + 45 for n in dict.fromkeys(names))


def _layout(fig: go.Figure, title: str, large: bool, height: int = 420, legend: bool = True,
            legend_right: bool = False) -> go.Figure:
    base = 20 if large else 13
    fig.update_layout(
        title={"text": title, "font": {"size": base + 5}, "x": 0, "xanchor": "left"},
        font={"family": FONT, "size": base},
        height=int(height * (1.25 if large else 1)),
        margin={"l": 10, "r": 10, "t": 70 if legend else 50, "b": 10},
        hoverlabel={"font_size": base},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0,
                "font": {"size": base}, "title": {"text": ""}},
    )
    # A legend above the plot that needs a second row would print over the title: it goes to the right.
    if legend and not legend_right and _legend_width(fig, base) > (520 if large else 640):
        legend_right = True
    if legend_right:  # above the panels it would cover their titles
        fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.01},
                          margin={"t": 50})
    fig.update_xaxes(showline=True, linecolor="#888", gridcolor="#E8E8E8", automargin=True)
    fig.update_yaxes(showline=True, linecolor="#888", gridcolor="#E8E8E8", automargin=True)
    return fig


# About what a chart half a 1280 px page wide shows of a title at the report's font size.
TITLE_ONE_LINE = 80


def at_resolution(fig: go.Figure, image_size) -> go.Figure:
    """``fig`` with the experiment's image resolution at the end of its title: the answer depends on
    it (pretrained features at 32 px are far from the 224 px they were learnt at), so a chart copied
    into a slide keeps it. Idempotent, since the page draws cached figures again on every rerun."""
    if not image_size:
        return fig
    words = f"{int(image_size)} px images"
    title = fig.layout.title.text or ""
    if not title or title.endswith((f" · {words}", f"<br>{words}")):
        return fig
    if len(title) + len(words) + 3 <= TITLE_ONE_LINE:
        fig.update_layout(title_text=f"{title} · {words}")
    else:  # a long title would run past a laptop-wide chart and cut the resolution off: a line of its own
        size = fig.layout.title.font.size or 18
        fig.update_layout(title_text=f"{title}<br>{words}", margin_t=int((fig.layout.margin.t or 50) + 1.4 * size))
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
def _interval(ci95: pd.Series, n: pd.Series) -> list:
    """Whisker half-widths; None (no whisker at all, never a zero-width cap) where one seed or
    seeds that all agree give no interval."""
    return [100 * c if n_ >= 2 and c == c and c > 0 else None for c, n_ in zip(ci95, n, strict=True)]


def _no_interval_title(title: str, n: pd.Series) -> str:
    if len(n) and (n < 2).all():
        return f"{title} · {NO_INTERVAL}"
    if (n < 2).any():
        return f"{title} · no interval where 1 seed"
    return title


def _baseline_name(name: str, what: str) -> str:
    return f"{name}: {what}"


def _baseline_marker(variant: str) -> dict:
    """The baseline's value on a bar of the same variant: a diamond in the variant's colour with a black
    rim, which shows on its own bar, on white, in greyscale and from the back of a room."""
    return {"symbol": "diamond", "size": 15, "color": palette.style(variant).color, "line": {"width": 2.5, "color": "#000"}}


def gap_chart(diffs: pd.DataFrame, large: bool = False, baseline: pd.DataFrame | None = None,
              baseline_name: str = "baseline") -> go.Figure:
    """Paired gain over scratch (points) per size, with its 95 % CI over seeds: the answer at a glance.
    ``baseline``: a pinned experiment's paired differences, drawn as open markers on the bars they match."""
    title = "Gain over training from scratch (accuracy points, same images and seed)"
    if diffs.empty:
        return _empty(title, "No finished scratch/pretrained pairs yet", large)
    has_baseline = baseline is not None and not baseline.empty
    sizes = sorted(set(diffs["size"]) | (set(baseline["size"]) if has_baseline else set()))
    fig = go.Figure()
    for var in variant_order(diffs["variant"]):
        d = diffs[diffs["variant"] == var].sort_values("size")
        look = palette.style(var)
        half = _interval(d["ci95"], d["n_pairs"])
        ci = [f"95% CI [{100 * lo:+.1f}, {100 * hi:+.1f}]" if h is not None else
              (NO_INTERVAL if n < 2 else "seeds agree: no interval")
              for lo, hi, h, n in zip(d["ci_low"], d["ci_high"], half, d["n_pairs"], strict=True)]
        fig.add_bar(
            x=[str(s) for s in d["size"]], y=100 * d["mean_diff"], name=var, marker_color=look.color, offsetgroup=var,
            marker_pattern={"shape": look.pattern, "solidity": 0.3, "fgcolor": "white"},
            error_y={"type": "data", "array": half, "visible": any(h is not None for h in half), "thickness": 2.5,
                     "width": 8, "color": "#222"},
            customdata=np.stack([d["n_pairs"], ci], axis=1),
            hovertemplate="%{x} per class: %{y:+.1f} pts<br>%{customdata[1]}"
                          "<br>%{customdata[0]} seed pairs<extra>" + var + "</extra>",
        )
    if has_baseline:
        for var in variant_order(baseline["variant"]):
            if var not in set(diffs["variant"]):
                continue  # its bar is not on this chart: a marker without a bar would read as this experiment's
            d = baseline[baseline["variant"] == var].sort_values("size")
            name = _baseline_name(baseline_name, var)
            fig.add_scatter(x=[str(s) for s in d["size"]], y=100 * d["mean_diff"], mode="markers", name=name,
                            offsetgroup=var, legendgroup=name, marker=_baseline_marker(var),
                            hovertemplate="%{x} per class: %{y:+.1f} pts<extra>" + name + "</extra>")
    fig.add_hline(y=0, line={"color": "#333", "width": 1.5})
    fig.update_layout(barmode="group", bargap=0.25, scattermode="group")
    fig.update_xaxes(title="labelled training images per class", type="category",
                     categoryorder="array", categoryarray=[str(s) for s in sizes])
    fig.update_yaxes(title="pretrained minus scratch (points)", zeroline=False)
    return _layout(fig, _no_interval_title(title, diffs["n_pairs"]), large)


def data_efficiency(summary: pd.DataFrame, baseline: pd.DataFrame | None = None, baseline_name: str = "baseline",
                    large: bool = False) -> go.Figure:
    """Test accuracy vs examples per class (log x): one line per variant, band = range over seeds."""
    title = "Data efficiency: test accuracy vs labelled images per class"
    if summary.empty:
        return _empty(title, "No finished runs yet", large)
    fig = go.Figure()
    for var in variant_order(summary["variant"]):
        d = summary[summary["variant"] == var].sort_values("size")
        look = palette.style(var)
        if (d["n_seeds"] > 1).any() and "min" in d:
            # The band spans every seed (min to max): the seeds' spread at a glance. The interval
            # on the mean is in the table, where a two-seed t-interval's width cannot swamp the chart.
            x = list(d["size"]) + list(d["size"])[::-1]
            fig.add_scatter(x=x, y=list(100 * d["max"]) + list(100 * d["min"])[::-1], fill="toself", mode="lines",
                            fillcolor=palette.rgba(look.color, 0.15), line={"width": 0}, hoverinfo="skip",
                            showlegend=False, legendgroup=var)
        fig.add_scatter(
            x=d["size"], y=100 * d["mean"], mode="lines+markers", name=var, legendgroup=var,
            line={"color": look.color, "width": 3, "dash": look.dash}, marker={"size": 10, "symbol": look.symbol},
            customdata=np.stack([d["n_seeds"], 100 * d.get("min", d["mean"]), 100 * d.get("max", d["mean"])], axis=1),
            hovertemplate="%{x} per class: %{y:.1f}% (seeds from %{customdata[1]:.1f} to %{customdata[2]:.1f}%, "
                          "%{customdata[0]} seeds)<extra>" + var + "</extra>",
        )
    if baseline is not None and not baseline.empty:
        for var in variant_order(baseline["variant"]):
            d = baseline[baseline["variant"] == var].sort_values("size")
            name = _baseline_name(baseline_name, var)
            fig.add_scatter(x=d["size"], y=100 * d["mean"], mode="lines+markers", name=name,
                            line={"color": palette.style(var).color, "width": palette.BASELINE_WIDTH,
                                  "dash": palette.BASELINE_DASH},
                            marker={"size": 10, "symbol": palette.baseline_symbol(var), "line": {"width": 2}},
                            hovertemplate="%{x} per class: %{y:.1f}%<extra>" + name + "</extra>")
    all_sizes = list(summary["size"]) + (list(baseline["size"]) if baseline is not None and not baseline.empty else [])
    fig.update_xaxes(type="log", title="labelled training images per class (log scale)", **_size_ticks(all_sizes))
    fig.update_yaxes(title="test accuracy (%)", rangemode="tozero", ticksuffix="%")
    band = " · 1 seed: no band" if (summary["n_seeds"] < 2).all() else " · band: range over seeds"
    return _layout(fig, title + band, large)


def depth_label(depth, stage_names: list[str]) -> str:
    """A freezing depth (3, "all", or "scratch" for the reference) on the axis: '0: fine-tune all',
    '3: frozen up to mid-level shapes (8 px, 40 ch)'."""
    if depth == "scratch":
        return "scratch"
    if depth == 0:
        return "0: fine-tune all"
    if depth == "all":
        return "all: linear probe"
    last = stage_names[depth - 1] if 0 < depth <= len(stage_names) else f"stage {depth}"
    return f"{depth}: frozen up to<br>{last}"


def freezing_depth(depths: pd.DataFrame, stage_names: list[str] | None = None, large: bool = False,
                   baseline: pd.DataFrame | None = None, baseline_name: str = "baseline") -> go.Figure:
    """Test accuracy vs freezing depth, one line per size; scratch as an unconnected reference point.
    ``stage_names``: what each stage is, in words (the models registry's descriptions). ``baseline``: a
    pinned experiment's depth summary, dotted in the same size's colour."""
    title = "Freezing depth: how much of the pretrained network to keep fixed"
    pre = depths[depths["arm"] == "pretrained"] if not depths.empty else depths
    if pre.empty:
        return _empty(title, "No finished pretrained runs yet", large)
    stage_names = stage_names or []
    has_baseline = baseline is not None and not baseline.empty and (baseline["arm"] == "pretrained").any()
    both = pd.concat([depths, baseline]) if has_baseline else depths
    shown = set(both.loc[both["arm"] == "pretrained", "depth"])
    order = ["scratch"] + [depth_label(d, stage_names) for d in sorted(shown, key=depth_order)]
    styles = palette.size_styles(both["size"])
    fig = go.Figure()
    for size in sorted(depths["size"].unique()):
        d = depths[depths["size"] == size]
        p, s = d[d["arm"] == "pretrained"], d[d["arm"] == "scratch"]
        name, look = f"{size} per class", styles[size]
        interval = [f"95% CI ±{h:.1f}" if h is not None else NO_INTERVAL
                    for h in _interval(p["ci95"], p["n_seeds"])]
        fig.add_scatter(
            x=[depth_label(d, stage_names) for d in p["depth"]], y=100 * p["mean"], mode="lines+markers", name=name,
            legendgroup=name, line={"color": look.color, "width": 3, "dash": look.dash},
            marker={"size": 11, "symbol": look.symbol},
            error_y={"type": "data", "array": _interval(p["ci95"], p["n_seeds"]),
                     "visible": bool(((p["n_seeds"] >= 2) & (p["ci95"] > 0)).any()), "thickness": 2, "width": 6},
            customdata=np.stack([p["trainable_params"] / 1e6, interval], axis=1),
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[1]})<br>%{customdata[0]:.2f} M trainable parameters"
                          "<extra>" + name + "</extra>",
        )
        if not s.empty:
            fig.add_scatter(x=["scratch"] * len(s), y=100 * s["mean"], mode="markers", legendgroup=name, showlegend=False,
                            marker={"color": look.color, "size": 13, "symbol": look.symbol + "-open",
                                    "line": {"width": 2.5}},
                            hovertemplate="scratch: %{y:.1f}%<extra>" + name + "</extra>")
    if has_baseline:
        for size in sorted(baseline["size"].unique()):
            p = baseline[(baseline["size"] == size) & (baseline["arm"] == "pretrained")]
            if p.empty:
                continue
            name, look = _baseline_name(baseline_name, f"{size} per class"), styles[size]
            fig.add_scatter(x=[depth_label(d, stage_names) for d in p["depth"]], y=100 * p["mean"], mode="lines+markers",
                            name=name, line={"color": look.color, "width": palette.BASELINE_WIDTH,
                                             "dash": palette.BASELINE_DASH},
                            marker={"size": 11, "symbol": look.symbol + "-open", "line": {"width": 2}},
                            hovertemplate="%{x}: %{y:.1f}%<extra>" + name + "</extra>")
    fig.update_xaxes(title="frozen stages of the pretrained network (input side first)", type="category",
                     categoryorder="array", categoryarray=order)
    # Accuracy lives in 0-100 %: a two-seed interval reaching past it is cut at the edge, not given the axis.
    fig.update_yaxes(title="test accuracy (%)", ticksuffix="%", range=[0, 102])
    return _layout(fig, _no_interval_title(title, pre["n_seeds"]), large)


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
            fig.add_scatter(x=xs, y=100 * val["mean"], mode="lines+markers", name=var, legendgroup=var,
                            showlegend=var not in shown, line={"color": color, "width": 2.5},
                            marker={"symbol": palette.style(var).symbol, "size": 7},
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


EMPTY_LIVE = {"cancelled": "Cancelled before any epoch ended", "cancelling": "Cancelled before any epoch ended",
              "failed": "No epoch ended: the error is above the chart"}


def live_curves(epochs: pd.DataFrame, large: bool = False, status: str = "running") -> go.Figure:
    """Validation accuracy per epoch of every run (one thin line per seed), one panel per size.

    A panel of more than LIVE_LINES_PER_PANEL runs draws, per variant, the mean and min-max band
    of its finished seeds, and only the runs still training as their own lines: hundreds of lines
    are unreadable and slow to draw."""
    title = "Validation accuracy while training"
    if epochs.empty:
        return _empty(title, EMPTY_LIVE.get(status, "Waiting for the first epoch…"), large)
    sizes = sorted(epochs["size"].unique())
    fig, nrows, ncols = _facets(sizes, vertical_spacing=0.16)
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
                                mode="lines", fillcolor=palette.rgba(palette.style(var).color, 0.15), line={"width": 0},
                                hoverinfo="skip",
                                showlegend=False, legendgroup=var, row=row, col=col)
                fig.add_scatter(x=xs, y=100 * band["mean"], mode="lines", name=var, legendgroup=var,
                                showlegend=var not in shown, line={"color": palette.style(var).color, "width": 2},
                                customdata=band["size"],
                                hovertemplate=f"{size}/class, epoch %{{x}}: mean val %{{y:.1f}}% over %{{customdata}} "
                                f"runs<extra>{var}</extra>", row=row, col=col)
                shown.add(var)
            panel = panel[running]
        for (var, seed), d in panel.groupby(["variant", "seed"], sort=True):
            d = d.sort_values("epoch")
            running = (d["status"] == "running").any()
            look = palette.style(var)
            fig.add_scatter(x=d["epoch"], y=100 * d["val_acc"], mode="lines+markers", name=var, legendgroup=var,
                            showlegend=var not in shown, line={"color": look.color, "width": 3.5 if running else 2.5,
                                                               "dash": look.dash},
                            marker={"size": 9 if running else 7, "symbol": look.symbol}, opacity=1.0 if running else 0.85,
                            hovertemplate=f"{size}/class seed {seed}, epoch %{{x}}: val %{{y:.1f}}%<extra>{var}</extra>",
                            row=row, col=col)
            shown.add(var)
    fig.update_yaxes(ticksuffix="%", range=[0, 102])
    fig.update_yaxes(title="validation accuracy", col=1)
    fig.update_xaxes(title="epoch", row=nrows, dtick=1 if epochs["epoch"].max() <= 12 else None)
    fig = _layout(fig, title, large, height=260 + 220 * nrows, legend_right=True)
    fig.update_annotations(font_size=(18 if large else 13))
    return fig


def time_to_target(summary: pd.DataFrame, target: float, large: bool = False, baseline: pd.DataFrame | None = None,
                   baseline_name: str = "baseline") -> go.Figure:
    """Median training seconds to reach ``target`` validation accuracy, per variant and size.
    ``baseline``: a pinned experiment's summary at the same target, as open markers on the bars they match."""
    title = f"Time to reach {100 * target:.0f}% validation accuracy (median over seeds)"
    if summary.empty:
        return _empty(title, "No epochs recorded yet", large)
    if summary["median_seconds"].isna().all():  # bars of nothing on a 0-1 s axis say less than a sentence
        return _empty(title, f"No run reached {100 * target:.0f}% validation accuracy: choose a lower target", large)
    sizes = [str(s) for s in sorted(summary["size"].unique())]
    fig = go.Figure()
    for var in variant_order(summary["variant"]):
        d = summary[summary["variant"] == var].sort_values("size")
        look = palette.style(var)
        text = [("" if n == t else f"{n}/{t} seeds") if n else "not reached"
                for n, t in zip(d["n_reached"], d["n_runs"], strict=True)]
        if "features_cached" in d:  # the head's seconds only: the body's features were computed once
            text = [f"{x} (cached features)".strip() if c else x for x, c in zip(text, d["features_cached"], strict=True)]
        fig.add_bar(x=[str(s) for s in d["size"]], y=d["median_seconds"].fillna(0), name=var, marker_color=look.color,
                    marker_pattern={"shape": look.pattern, "solidity": 0.3, "fgcolor": "white"}, offsetgroup=var,
                    text=text, textposition="outside", cliponaxis=False, textangle=-90,  # side by side, never overlapping
                    textfont={"size": 18 if large else 12}, constraintext="none",  # the axis's size, never shrunk
                    customdata=np.stack([d["n_reached"], d["n_runs"]], axis=1),
                    hovertemplate="%{x} per class: %{y:.1f} s (%{customdata[0]} of %{customdata[1]} seeds reached it)"
                                  "<extra>" + var + "</extra>")
    if baseline is not None and not baseline.empty:
        for var in variant_order(baseline["variant"]):
            d = baseline[(baseline["variant"] == var) & baseline["size"].astype(str).isin(sizes)
                         & baseline["median_seconds"].notna()].sort_values("size")
            if var not in set(summary["variant"]) or d.empty:  # nothing to draw: no legend entry either
                continue
            name = _baseline_name(baseline_name, var)
            fig.add_scatter(x=[str(s) for s in d["size"]], y=d["median_seconds"], mode="markers", name=name,
                            offsetgroup=var, marker=_baseline_marker(var),
                            hovertemplate="%{x} per class: %{y:.1f} s<extra>" + name + "</extra>")
    fig.update_layout(barmode="group", bargap=0.25, scattermode="group")
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
        text=[f"{duration(s)} total · {duration(p)} per run" + (f" · {1000 * c:.0f} ms per step" if c == c else "")
              for s, p, c in zip(t["total_seconds"], t["seconds_per_run"],
                                 t["seconds_per_step"] if "seconds_per_step" in t else [float("nan")] * len(t), strict=True)],
        textposition="auto", hovertemplate="%{y}: %{x:.1f} s<extra></extra>",
    ))
    fig.update_xaxes(title="training seconds (sum over runs)", rangemode="tozero")
    return _layout(fig, title, large, height=120 + 60 * len(order), legend=False)


# -- errors -------------------------------------------------------------------------------------------
def confusion(matrix: list[list[int]], class_names: list[str], title: str, large: bool = False) -> go.Figure:
    """Row-normalised confusion matrix (share of each true class), with counts on hover."""
    return confusion_grid([("", matrix)], class_names, title, large, per_row=1)


def confusion_grid(panels: list[tuple[str, list[list[int]]]], class_names: list[str], title: str,
                   large: bool = False, per_row: int = 3) -> go.Figure:
    """Several confusion matrices side by side, one shared colour scale and colour bar: the same shade
    means the same share of a class in every panel. ``panels``: (panel title, matrix) per arm."""
    panels = [(t, np.asarray(m, dtype=float)) for t, m in panels if np.asarray(m).size]
    if not panels:
        return _empty(title, "No confusion matrix for these runs", large)
    n = len(panels[0][1])
    names = class_names if len(class_names) == n else [str(i) for i in range(n)]
    short = [plotly_text(c if len(c) <= 14 else c[:13] + "…") for c in names]
    ncols = min(per_row, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[t for t, _ in panels], horizontal_spacing=0.06,
                        vertical_spacing=0.22 / nrows if nrows > 1 else 0.1)
    show_text = n <= 12
    for i, (_, m) in enumerate(panels):
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        fig.add_trace(go.Heatmap(
            z=100 * share, x=short, y=short, coloraxis="coloraxis", customdata=m,
            text=np.where(m > 0, m.astype(int).astype(str), "") if show_text else None,
            texttemplate="%{text}" if show_text else None,
            hovertemplate="true %{y} → predicted %{x}: %{customdata:.0f} images (%{z:.0f}% of %{y})<extra></extra>",
        ), row=i // ncols + 1, col=i % ncols + 1)
    fig.update_layout(coloraxis={"colorscale": "Blues", "cmin": 0, "cmax": 100,
                                 "colorbar": {"title": {"text": "% of row", "side": "right"}, "ticksuffix": "%", "thickness": 14}})
    fig.update_xaxes(type="category", side="bottom")
    fig.update_xaxes(title="predicted", row=nrows)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_yaxes(title="true", col=1)
    fig = _layout(fig, title, large, height=80 + nrows * (300 + 10 * n), legend=False)
    fig.update_annotations(font_size=(18 if large else 13))
    return fig
