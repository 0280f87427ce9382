"""The report as one self-contained HTML file: the verdict, the evidence, the setup, every run.

Plotly's JavaScript is inlined once and each figure travels as JSON in its own script element, so
the file opens offline, anywhere, and a script can read the figures back. ``mode="print"`` draws the
same charts static at the page width: the input for the PDF.

The markup is a Jinja template (``templates/report.html.j2``) rendered with autoescaping: every
value is escaped as text unless this module marks it as markup (``Markup``: the figures' JSON, the
stylesheet, plotly's script), so a name or label cannot add markup by construction. Before escaping,
every value goes through ``printable`` (control and bidi characters as escapes), as ``html_text`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

import tlcompare
from tlcompare.analysis import frames as analysis
from tlcompare.analysis.overfitting import AUGMENTED_BELOW_VALIDATION, gaps_display
from tlcompare.report.content import ExperimentReport, generated_line
from tlcompare.report.figures import Figure, comparison_figures, experiment_figures
from tlcompare.report.style import CSS, PRINT_WIDTH_PX
from tlcompare.text.escape import printable
from tlcompare.text.headline import headline
from tlcompare.text.setup import dataset_title, describe, model_title, setup_rows

SECTIONS = [  # (heading, figure keys) in the order of the Results page's tabs
    ("The answer", ("multiplier", "gap", "data_efficiency")),
    ("Freezing depth", ("freezing",)),
    ("Learning curves", ("curves_epoch", "curves_seconds")),
    ("Overfitting", ("overfit",)),
    ("Time", ("time_to_target", "training_time")),
]
PAIRED_HINT = ("Gain: pretrained minus scratch on the same training images and seed, averaged over seeds. The 95% CI "
               "is a t-interval over those per-seed differences with the test set held fixed (none with one seed, or "
               "when all seeds agree); p is its t-test before the Holm correction the verdict applies; ± is the spread "
               "of accuracy over seeds.")

LOADER = """
(function () {
  var config = %s;
  // window.__chartsDrawn tells the PDF printer (report/print_page.py) that every chart is on the page:
  // it prints only then. __chartsDone counts them on the way; __chartsFailed names a chart that failed.
  window.__chartsDone = 0;
  var drawing = [];
  document.querySelectorAll("script.figure-data").forEach(function (el) {
    drawing.push(new Promise(function (resolve) { resolve(JSON.parse(el.textContent)); }).then(function (fig) {
      return Plotly.newPlot(el.dataset.target, fig.data, fig.layout, config);
    }).then(function () { window.__chartsDone += 1; },
            function (err) { window.__chartsFailed = el.dataset.key + ": " + err; }));
  });
  Promise.all(drawing).then(function () { return document.fonts && document.fonts.ready; }).then(function () {
    window.__chartsDrawn = true;
  });
  if (document.body.classList.contains("print")) return;  // drawn at the page width already
  // Printed from a browser, the charts keep their screen width unless redrawn at the page width.
  function charts() { return document.querySelectorAll(".chart.js-plotly-plot"); }
  window.addEventListener("beforeprint", function () {
    charts().forEach(function (c) { Plotly.relayout(c, {width: %d}); });
  });
  window.addEventListener("afterprint", function () {
    charts().forEach(function (c) { Plotly.relayout(c, {width: null, autosize: true}); });
  });
})();
"""


def _finalize(value):
    """Every value the template prints: text made printable first (markup the code built stays as it is)."""
    if value is None or isinstance(value, Markup):
        return "" if value is None else value
    return printable(value, None, keep_newlines=True)


@cache
def _template():
    env = Environment(loader=PackageLoader("tlcompare.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, finalize=_finalize, trim_blocks=False, keep_trailing_newline=True)
    return env.get_template("report.html.j2")


# -- what the template lays out ------------------------------------------------------------------------
@dataclass
class Table:
    header: list[str]
    rows: list[list]
    numeric: set[int] = field(default_factory=set)
    cls: str = ""
    row_classes: list[str] | None = None
    nowrap: set[int] = field(default_factory=set)

    def attr(self, i: int) -> Markup:
        kinds = (["num"] if i in self.numeric else []) + (["nowrap"] if i in self.nowrap else [])
        return Markup(' class="{}"').format(" ".join(kinds)) if kinds else Markup("")


@dataclass
class Chart:
    id: str
    key: str
    height: int
    json: Markup
    hint: str


def _params(n) -> str:
    """Parameter counts as the Results table writes them: 3.8 k for a linear probe, 3.38 M for a whole model."""
    if n is None or pd.isna(n):
        return "–"
    n = float(n)
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _num(x, fmt: str, scale: float = 1.0) -> str:
    if x is None or pd.isna(x):
        return "–"
    return format(scale * float(x), fmt)


class _Figures:
    """Turns Figure objects into charts for the template, with ids unique within the document."""

    def __init__(self, mode: str):
        self.mode = mode

    def chart(self, f: Figure, prefix: str) -> Chart:
        fig = f.fig
        if self.mode == "print":
            fig = go.Figure(fig)  # a copy: the caller's figure keeps its responsive width
            fig.update_layout(width=PRINT_WIDTH_PX, autosize=False)
        # to_json writes "<" and "/" as \\u escapes, so no label can close the script element early.
        return Chart(id=f"fig-{prefix}-{f.key}", key=f.key, height=int(fig.layout.height or 420),
                     json=Markup(pio.to_json(fig, validate=False)), hint=f.hint or "")


# -- sections ------------------------------------------------------------------------------------------
def _describe(rep: ExperimentReport) -> str:
    s = rep.spec
    return (f"{describe(s, rep.environment)} · {', '.join(map(str, s.get('sizes', [])))} labelled images per class · "
            f"{len(rep.finished)} of {len(rep.runs)} runs finished ({rep.status})")


def paired_table(rep: ExperimentReport) -> Table | None:
    """The Results page's table, in the page's own wording (analysis.results_display)."""
    if rep.view.table.empty:
        return None
    shown = analysis.results_display(rep.view.table)
    header = list(shown.columns)
    return Table(header, shown.values.tolist(), numeric={i for i, c in enumerate(header) if c != "arm"}, cls="paired",
                 nowrap={header.index("arm")})


def gaps_table(rep: ExperimentReport) -> Table:
    """Training (no augmentation) vs validation accuracy of every finished run, and the gap."""
    shown = gaps_display(rep.view.overfit_gaps)
    rows = [[v, s, seed, _num(t, ".1f"), _num(val, ".1f"), _num(g, "+.1f")] for v, s, seed, t, val, g in shown.values.tolist()]
    return Table(list(shown.columns), rows, numeric={1, 2, 3, 4, 5})


def runs_table(rep: ExperimentReport) -> Table:
    rows, classes = [], []
    for r in rep.runs:
        f = r.get("final") or {}
        note = r.get("error") or (f"reused run {r['reused_from']}" if r.get("reused_from") else "")
        rows.append([r["run_id"], analysis.variant(r["arm"], r.get("freeze")), r["size"], r["seed"], r["status"],
                     _num(f.get("test_acc"), ".2f", 100), _num(f.get("val_acc"), ".2f", 100),
                     _num(f.get("test_balanced_acc"), ".2f", 100), _num(f.get("test_macro_f1"), ".2f", 100),
                     f.get("best_epoch", "–"), _num(f.get("train_seconds"), ".1f"), _num(f.get("images_per_sec"), ".0f"),
                     _params(r.get("trainable_params")), r.get("n_train") or "–", r.get("subset_hash") or "–",
                     note])
        classes.append(f"status-{r['status']}")
    header = ["run", "arm", "size", "seed", "status", "test acc %", "val acc %", "bal. acc %", "macro-F1 %",
              "best epoch", "train s", "img/s", "trainable", "train images", "subset", "note"]
    return Table(header, rows, numeric={0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13}, cls="runs", row_classes=classes,
                 nowrap={1, 14})


def experiment_context(rep: ExperimentReport, out: _Figures) -> dict:
    figs = experiment_figures(rep)
    by_key = {f.key: f for f in figs}
    p, view = str(rep.id), rep.view
    sections = []
    for heading, keys in SECTIONS:
        section = {"heading": heading, "figures": [out.chart(by_key[k], p) for k in keys if k in by_key],
                   "paired": None, "gaps": None}
        if heading == "The answer":
            section["paired"] = {"table": paired_table(rep), "hint": PAIRED_HINT}
        if heading == "Overfitting" and section["figures"]:
            section["gaps"] = {"table": gaps_table(rep), "hint": f"{AUGMENTED_BELOW_VALIDATION} Here training accuracy "
                               "is measured on the plain training images instead."}
        if section["figures"] or section["paired"]:
            sections.append(section)
    m = view.multiplier
    return {
        "id": rep.id, "label": rep.label, "describe": _describe(rep), "headline": headline(view),
        "multiplier": None if view.frame.empty else m, "answer": view.answer, "verdict_lines": view.verdict_lines,
        "budget": view.budget, "flags_summary": view.flags_summary, "flag_lines": view.flag_lines,
        "controls": view.controls, "notes": rep.notes.strip(), "sections": sections,
        "mistakes": [out.chart(f, p) for f in figs if f.mistakes],
        "setup": setup_rows(rep.spec, rep.environment), "manifest": rep.manifest(), "runs": runs_table(rep),
    }


def comparison_context(reps: list[ExperimentReport], out: _Figures) -> dict:
    rows = [[rep.label, dataset_title(rep.spec, rep.environment), model_title(rep.spec.get("model", "")),
             rep.spec.get("image_size"),
             rep.spec.get("epochs"), ", ".join(map(str, rep.spec.get("sizes", []))), len(rep.spec.get("seeds", [])),
             f"{len(rep.finished)}/{len(rep.runs)}", rep.environment.get("dataset_fingerprint") or "not recorded",
             rep.view.answer] for rep in reps]
    header = ["experiment", "dataset", "model", "px", "epochs", "sizes / class", "seeds", "runs done",
              "data fingerprint", "verdict"]
    prints = {rep.environment.get("dataset_fingerprint") for rep in reps} - {None, ""}
    return {"table": Table(header, rows, numeric={3, 4, 6, 7}, cls="compare"), "different_data": len(prints) > 1,
            "figures": [out.chart(f, "compare") for f in comparison_figures(reps)]}


def title(reps: list[ExperimentReport]) -> str:
    if len(reps) == 1:
        return f"Pretrained or from scratch? {reps[0].label}"
    return f"Pretrained or from scratch? {len(reps)} experiments compared"


def render_html(reps: list[ExperimentReport], mode: str = "interactive") -> str:
    """The whole document. ``mode``: "interactive" (zoom, hover) or "print" (static, page-width charts)."""
    out = _Figures(mode)
    config = {"displaylogo": False, "responsive": mode != "print", "staticPlot": mode == "print",
              "toImageButtonOptions": {"scale": 2}}
    return _template().render(
        mode=mode, title=title(reps), generated=generated_line(), version=tlcompare.__version__, css=Markup(CSS),
        experiments=[experiment_context(rep, out) for rep in reps],
        comparison=comparison_context(reps, out) if len(reps) > 1 else None,
        plotly_js=Markup(plotly.offline.get_plotlyjs()),
        loader=Markup(LOADER % (json.dumps(config), PRINT_WIDTH_PX)))
