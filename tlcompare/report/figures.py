"""The report's charts: the Results page's figures from tlcompare.charts.figures, built from the same frames,
so a chart in the report is the chart the reader saw on the dashboard.

Only the report-specific parts live here: fixed choices where the page has a control (every size,
both learning-curve axes, overfitting at the smallest size and first seed, the default accuracy target, confusion matrices at the smallest and
largest size), and overlays of several experiments built from the single-experiment figures.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import plotly.graph_objects as go

from tlcompare.analysis import frames as analysis
from tlcompare.analysis import overfitting
from tlcompare.charts import figures as charts
from tlcompare.charts.multiplier import hint as multiplier_hint
from tlcompare.charts.multiplier import label_multiplier_chart
from tlcompare.charts.overfit import overfit_chart
from tlcompare.report.content import ExperimentReport
from tlcompare.text.escape import plotly_text


@dataclass
class Figure:
    key: str
    fig: go.Figure
    hint: str = ""
    mistakes: bool = False  # in the Mistakes section (confusion matrices)


def _stage_names(spec: dict) -> list[str]:
    """Each stage in words with its resolution and channels, as the Results page labels the freezing chart."""
    try:
        from tlcompare.models import model_info

        return model_info(spec.get("model", "")).stage_descriptions(spec.get("image_size") or 224)
    except Exception:  # a model removed since: the chart falls back to depth numbers, as on the page
        return []


def experiment_figures(rep: ExperimentReport) -> list[Figure]:
    """Every chart of the Results page for one experiment, in the page's order."""
    view = rep.view
    if view.frame.empty:
        return []
    frame = view.frame
    sizes = sorted(int(s) for s in frame["size"].unique())
    target = analysis.default_target(rep.spec)
    out = [
        Figure("multiplier", label_multiplier_chart(frame, view.multiplier.table), multiplier_hint(view.multiplier.table)),
        Figure("gap", charts.gap_chart(view.diffs), charts.HINTS["gap"]),
        Figure("data_efficiency", charts.data_efficiency(view.summary), charts.HINTS["data_efficiency"]),
        Figure("freezing", charts.freezing_depth(view.depth, _stage_names(rep.spec)), charts.HINTS["freezing"]),
        Figure("curves_epoch", charts.learning_curves(view.curves, x="epoch", sizes=sizes), charts.HINTS["learning"]),
        Figure("curves_seconds", charts.learning_curves(view.curves, x="seconds", sizes=sizes), charts.HINTS["learning"]),
        # The smallest size, where overfitting shows most, and the first seed: every variant once.
        Figure("overfit", overfit_chart(view.overfit_curves, view.overfit_gaps, sizes[0], int(frame["seed"].min())),
               overfitting.HINT),
        Figure("time_to_target", charts.time_to_target(view.time_to_target(target), target),
               charts.HINTS["time_to_target"] + f" Target: {100 * target:.0f} % validation accuracy, set in the spec "
               "(target_acc)."),
        Figure("training_time", charts.training_time(view.training_time), charts.HINTS["training_time"]),
    ]
    out += confusion_figures(rep)
    for f in out:  # every chart names its resolution, as on the page
        charts.at_resolution(f.fig, rep.spec.get("image_size"))
    return out


def confusion_figures(rep: ExperimentReport) -> list[Figure]:
    """Each arm's confusion matrix at the smallest and the largest size, for the first seed: one figure
    per size, its panels sharing one colour scale."""
    done = [r for r in rep.finished if r["status"] == "done" and r.get("confusion")]
    if not done:
        return []
    names = [str(c) for c in rep.environment.get("class_names") or []]
    seed = min(r["seed"] for r in done)
    sizes = sorted({r["size"] for r in done})
    out = []
    for size in dict.fromkeys([sizes[0], sizes[-1]]):
        runs = [r for r in done if r["size"] == size and r["seed"] == seed]
        if not runs:
            continue
        order = analysis.variant_order([analysis.variant(r["arm"], r["freeze"]) for r in runs])
        runs.sort(key=lambda r: order.index(analysis.variant(r["arm"], r["freeze"])))
        panels = [(f"{analysis.variant(r['arm'], r['freeze'])}: {100 * (r.get('final') or {}).get('test_acc', float('nan')):.1f}%",
                   r["confusion"]) for r in runs]
        # Class names come from folder names: charts.confusion_grid escapes them for plotly.
        fig = charts.confusion_grid(panels, names, f"Confusion matrices, {size} per class, seed {seed}")
        out.append(Figure(f"confusion_{size}", fig, mistakes=True))
    if out:
        out[-1].hint = charts.HINTS["confusion"]
    return out


# -- several experiments ----------------------------------------------------------------------------
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "star"]
PATTERNS = ["", "/", ".", "x", "-", "+"]


def _short(rep: ExperimentReport, limit: int = 32) -> str:
    # Experiments compared may differ in resolution: each legend entry ends with its own, never cut off
    # (a sweep's names already end with it).
    px = rep.spec.get("image_size")
    at = f" · {px} px" if px else ""
    name = rep.name.removesuffix(at) if at else rep.name
    name = name if len(name) <= limit else name[: limit - 1] + "…"
    return plotly_text(f"#{rep.id} {name}{at}")


def _relabel(trace, prefix: str, group: str) -> None:
    if trace.name:
        extra = f"<extra>{prefix} · {trace.name}</extra>"
        if trace.hovertemplate and "<extra>" in trace.hovertemplate:
            trace.hovertemplate = trace.hovertemplate.split("<extra>")[0] + extra
        trace.name = f"{prefix} · {trace.name}"
    trace.legendgroup = f"{group}:{trace.legendgroup or trace.name}"
    if trace.offsetgroup:  # the same variant of two experiments: two bars side by side, not one over the other
        trace.offsetgroup = f"{group}:{trace.offsetgroup}"


def _recolour(trace, color: str) -> None:
    # Each single-experiment chart colours its own set of arms; the overlay needs one arm, one colour.
    if trace.type == "bar":
        trace.marker.color = color
    elif trace.fill == "toself" and trace.fillcolor:
        alpha = trace.fillcolor.rsplit(",", 1)[-1].rstrip(")")
        r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
        trace.fillcolor = f"rgba({r},{g},{b},{alpha})"
    else:
        trace.line.color = color


def _overlay(parts: list[tuple[ExperimentReport, go.Figure]], style, title: str) -> go.Figure:
    fig = go.Figure(layout=copy.deepcopy(parts[0][1].layout))
    arms = {t.legendgroup or t.name for _, part in parts for t in part.data}
    colors = charts.variant_colors([a for a in arms if a])
    for i, (rep, part) in enumerate(parts):
        for trace in part.data:
            trace = copy.deepcopy(trace)
            arm = trace.legendgroup or trace.name
            if arm in colors:
                _recolour(trace, colors[arm])
            _relabel(trace, _short(rep), str(rep.id))
            style(trace, i)
            fig.add_trace(trace)
    # One legend line per trace under the chart: experiment names are too long to share the title's row.
    # The plot area is a little lower than on the page, so that a printed comparison's first page holds
    # the experiments' table and the gap chart together.
    n = sum(1 for t in fig.data if t.showlegend is not False)
    line = 20
    fig.update_layout(title_text=title, height=340 + line * n, margin={"t": 50, "b": 80 + line * n},
                      legend={"orientation": "v", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0,
                              "xanchor": "left", "font": {"size": 12}, "tracegroupgap": 0})
    return fig


def overlay_data_efficiency(reps: list[ExperimentReport]) -> go.Figure:
    """Every experiment's data-efficiency lines on one axis: colour = arm, line style = experiment."""
    reps = [r for r in reps if not r.view.frame.empty]
    parts = [(r, charts.data_efficiency(r.view.summary)) for r in reps]
    if not parts:
        return charts.data_efficiency(analysis.summary(analysis.runs_frame([])))

    def style(trace, i):
        if trace.mode and "lines" in trace.mode:
            trace.line.dash = DASHES[i % len(DASHES)]
            trace.marker.symbol = SYMBOLS[i % len(SYMBOLS)]

    fig = _overlay(parts, style, "Data efficiency of each experiment: test accuracy vs labelled images per class")
    sizes = sorted({int(s) for r in reps for s in r.view.frame["size"]})
    fig.update_xaxes(tickvals=sizes, ticktext=[str(s) for s in sizes])
    return fig


def overlay_gap(reps: list[ExperimentReport]) -> go.Figure:
    """Every experiment's paired gain over scratch: colour = arm, hatching = experiment."""
    reps = [r for r in reps if not r.view.diffs.empty]
    parts = [(r, charts.gap_chart(r.view.diffs)) for r in reps]
    if not parts:
        return charts.gap_chart(analysis.paired_differences(analysis.runs_frame([])))

    def style(trace, i):
        trace.marker.pattern = {"shape": PATTERNS[i % len(PATTERNS)], "solidity": 0.35, "fgcolor": "white"}

    fig = _overlay(parts, style, "Gain over training from scratch in each experiment (accuracy points)")
    sizes = sorted({int(s) for r in reps for s in r.view.diffs["size"]})
    fig.update_xaxes(categoryarray=[str(s) for s in sizes])
    return fig


def comparison_figures(reps: list[ExperimentReport]) -> list[Figure]:
    return [Figure("compare_gap", overlay_gap(reps), charts.HINTS["gap"]),
            Figure("compare_efficiency", overlay_data_efficiency(reps), charts.HINTS["data_efficiency"])]
