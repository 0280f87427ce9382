"""The report as one self-contained HTML file: the verdict, the evidence, the setup, every run.

Plotly's JavaScript is inlined once and each figure travels as JSON in its own script element, so
the file opens offline, anywhere, and a script can read the figures back. Every piece of user text
goes through ``html_text``. ``mode="print"`` draws the same charts static at the page width: the
input for the PDF.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

import tlcompare
from tlcompare.analysis import frames as analysis
from tlcompare.analysis.overfitting import AUGMENTED_BELOW_VALIDATION, gaps_display
from tlcompare.report.content import ExperimentReport, generated_line
from tlcompare.report.figures import Figure, comparison_figures, experiment_figures
from tlcompare.report.style import CSS, PRINT_WIDTH_PX
from tlcompare.text.escape import html_text
from tlcompare.text.setup import dataset_title, model_title, setup_line, spec_word

SECTIONS = [  # (heading, figure keys) in the order of the Results page's tabs
    ("The answer", ("multiplier", "gap", "data_efficiency")),
    ("Freezing depth", ("freezing",)),
    ("Learning curves", ("curves_epoch", "curves_seconds")),
    ("Overfitting", ("overfit",)),
    ("Time", ("time_to_target", "training_time")),
]

LOADER = """
(function () {
  var config = %s;
  document.querySelectorAll("script.figure-data").forEach(function (el) {
    var fig = JSON.parse(el.textContent);
    Plotly.newPlot(el.dataset.target, fig.data, fig.layout, config);
  });
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


# -- small builders ------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset(), cls: str = "",
           row_classes: list[str] | None = None, nowrap: set[int] = frozenset()) -> str:
    def attr(i: int) -> str:
        kinds = (["num"] if i in numeric else []) + (["nowrap"] if i in nowrap else [])
        return f' class="{" ".join(kinds)}"' if kinds else ""

    head = "".join(f"<th{attr(i)}>{html_text(h)}</th>" for i, h in enumerate(header))
    body = []
    for n, row in enumerate(rows):
        cells = "".join(f"<td{attr(i)}>{html_text(c)}</td>" for i, c in enumerate(row))
        rc = f' class="{row_classes[n]}"' if row_classes else ""
        body.append(f"<tr{rc}>{cells}</tr>")
    return (f'<div class="wide"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _kv(rows: list[tuple[str, object]]) -> str:
    body = "".join(f"<tr><td>{html_text(k)}</td><td>{html_text(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><colgroup><col class="k"><col></colgroup><tbody>{body}</tbody></table>'


def _params(n) -> str:
    """Parameter counts as the Results table writes them: 3.8 k for a linear probe, 3.38 M for a whole model."""
    if n is None or pd.isna(n):
        return "–"
    n = float(n)
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _spec_value(v) -> str:
    if v is None:
        return "(default)"  # the spec leaves it to tlcompare: a default learning rate, the default data folder
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def _num(x, fmt: str, scale: float = 1.0) -> str:
    if x is None or pd.isna(x):
        return "–"
    return format(scale * float(x), fmt)


class _Figures:
    """Turns Figure objects into chart divs plus their JSON, with ids unique within the document."""

    def __init__(self, mode: str):
        self.mode = mode

    def html(self, f: Figure, prefix: str) -> str:
        fig = f.fig
        if self.mode == "print":
            fig = go.Figure(fig)  # a copy: the caller's figure keeps its responsive width
            fig.update_layout(width=PRINT_WIDTH_PX, autosize=False)
        div_id = f"fig-{prefix}-{f.key}"
        hint = f'<p class="hint">{html_text(f.hint)}</p>' if f.hint else ""
        # to_json writes "<" and "/" as \u escapes, so no label can close the script element early.
        return (f'<div class="figure"><div class="chart" id="{div_id}" style="height:{int(fig.layout.height or 420)}px">'
                f'</div><script type="application/json" class="figure-data" data-target="{div_id}" '
                f'data-key="{html_text(f.key)}">{pio.to_json(fig, validate=False)}</script>{hint}</div>')


# -- sections ------------------------------------------------------------------------------------------
def _describe(rep: ExperimentReport) -> str:
    s = rep.spec
    n_done = len(rep.finished)
    budget = s.get("budget") or "epochs"
    length = f"{s.get('epochs')} epochs" if budget == "epochs" else f"budget {budget}"
    return (f"{setup_line(s, rep.environment)} · {length} · "
            f"{', '.join(map(str, s.get('sizes', [])))} labelled images per class · "
            f"{n_done} of {len(rep.runs)} runs finished ({rep.status})")


def _verdict(rep: ExperimentReport) -> str:
    lines = "".join(f"<li>{html_text(line)}</li>" for line in rep.view.verdict_lines)
    return (f'<div class="verdict">{_multiplier(rep)}<p class="answer">{html_text(rep.view.answer)}</p>'
            + (f"<ul>{lines}</ul>" if lines else "") + _fairness(rep) + "</div>")


def _multiplier(rep: ExperimentReport) -> str:
    """The label multiplier first: the sentence the page leads with, then every variant and size, the time saved."""
    m = rep.view.multiplier
    if rep.view.frame.empty:
        return ""
    if m.missing:
        return f'<p class="multiplier muted">{html_text(m.missing)}</p>'
    items = "".join(f"<li>{html_text(line)}</li>" for line in m.all_lines)
    return (f'<p class="answer multiplier">{html_text(m.lead)}</p><ul class="multiplier">{items}</ul>'
            f'<p class="hint">{html_text(m.method)}</p>')


def _fairness(rep: ExperimentReport) -> str:
    """The budget, the runs flagged as not finished learning (with their fix), the random-features control."""
    view = rep.view
    out = [f'<p class="budget">{html_text(view.budget)}</p>'] if view.budget else []
    if view.flag_lines:
        items = "".join(f"<li>{html_text(line)}</li>" for line in view.flag_lines)
        out.append(f'<div class="flags"><p>{html_text(view.flags_summary)}</p><ul>{items}</ul></div>')
    elif view.flags_summary:
        out.append(f"<p>{html_text(view.flags_summary)}</p>")
    if view.controls:
        items = "".join(f"<li>{html_text(line)}</li>" for line in view.controls)
        out.append(f"<p>Pretrained vs random features (same freezing depth):</p><ul>{items}</ul>")
    return "".join(out)


def paired_table(rep: ExperimentReport) -> str:
    """The Results page's table, in the page's own wording (analysis.results_display)."""
    if rep.view.table.empty:
        return '<p class="muted">No finished runs yet.</p>'
    shown = analysis.results_display(rep.view.table)
    header = list(shown.columns)
    numeric = {i for i, c in enumerate(header) if c not in ("arm",)}
    return (_table(header, shown.values.tolist(), numeric=numeric, cls="paired", nowrap={header.index("arm")})
            + '<p class="hint">Gain: pretrained minus scratch on the same training images and seed, averaged over '
              "seeds. The 95% CI is a t-interval over those per-seed differences with the test set held fixed (none "
              "with one seed, or when all seeds agree); p is its t-test before the Holm correction the verdict "
              "applies; ± is the spread of accuracy over seeds.</p>")


def gaps_table(rep: ExperimentReport) -> str:
    """Training (no augmentation) vs validation accuracy of every finished run, and the gap."""
    shown = gaps_display(rep.view.overfit_gaps)
    rows = [[v, s, seed, _num(t, ".1f"), _num(val, ".1f"), _num(g, "+.1f")] for v, s, seed, t, val, g in shown.values.tolist()]
    return (f'<h4>The gap of every run (reported model)</h4>{_table(list(shown.columns), rows, numeric={1, 2, 3, 4, 5})}'
            f'<p class="hint">{html_text(AUGMENTED_BELOW_VALIDATION)} Here training accuracy is measured on the plain '
            "training images instead.</p>")


def runs_table(rep: ExperimentReport) -> str:
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
    return _table(header, rows, numeric={0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13}, cls="runs", row_classes=classes,
                  nowrap={1, 14})


def _figure_block(figs: dict[str, Figure], keys, out: _Figures, prefix: str) -> str:
    return "".join(out.html(figs[k], prefix) for k in keys if k in figs)


def experiment_section(rep: ExperimentReport, out: _Figures) -> str:
    figs = experiment_figures(rep)
    by_key = {f.key: f for f in figs}
    p = str(rep.id)
    parts = [f'<section class="experiment" id="exp-{rep.id}">', f"<h2>{html_text(rep.label)}</h2>",
             f'<p class="meta">{html_text(_describe(rep))}</p>', _verdict(rep)]
    if rep.notes.strip():
        parts.append(f'<h4>Notes</h4><div class="notes">{html_text(rep.notes.strip())}</div>')
    for heading, keys in SECTIONS:
        block = _figure_block(by_key, keys, out, p)
        if heading == "The answer":
            block += f'<h4 id="exp-{rep.id}-table">Paired differences (pretrained minus scratch, same size and seed)</h4>'
            block += paired_table(rep)
        if heading == "Overfitting" and block:
            block += gaps_table(rep)
        if block:
            parts.append(f"<h3>{html_text(heading)}</h3>{block}")
    mistakes = [f for f in figs if f.mistakes]
    if mistakes:
        parts.append('<div class="mistakes"><h3>Mistakes: confusion matrices</h3>'
                     '<p class="hint">Row-normalised: each row is one true class; one colour scale for every panel. '
                     "Each arm at the smallest and largest training-set size, first seed.</p>"
                     + "".join(out.html(f, p) for f in mistakes) + "</div>")
    parts.append(f'<div class="setup"><h3 id="exp-{rep.id}-setup">Setup</h3><div class="twocol">'
                 f"<div><h4>Experiment spec</h4>{_kv([(spec_word(k), _spec_value(v)) for k, v in rep.spec.items()])}</div>"
                 f"<div><h4>Environment</h4>{_kv(rep.manifest())}</div></div></div>")
    parts.append(f'<div class="appendix" id="exp-{rep.id}-runs"><h3>Appendix: every run of {html_text(rep.label)}</h3>'
                 f"{runs_table(rep)}</div>")
    parts.append("</section>")
    return "".join(parts)


def comparison_section(reps: list[ExperimentReport], out: _Figures) -> str:
    rows = [[rep.label, dataset_title(rep.spec, rep.environment), model_title(rep.spec.get("model", "")),
             rep.spec.get("image_size"),
             rep.spec.get("epochs"), ", ".join(map(str, rep.spec.get("sizes", []))), len(rep.spec.get("seeds", [])),
             f"{len(rep.finished)}/{len(rep.runs)}", rep.environment.get("dataset_fingerprint") or "not recorded",
             rep.view.answer] for rep in reps]
    header = ["experiment", "dataset", "model", "px", "epochs", "sizes / class", "seeds", "runs done",
              "data fingerprint", "verdict"]
    prints = {rep.environment.get("dataset_fingerprint") for rep in reps} - {None, ""}
    warning = ('<p class="warning">These experiments did not train on the same data (their dataset fingerprints '
               "differ): compare their numbers with care.</p>") if len(prints) > 1 else ""
    figs = "".join(out.html(f, "compare") for f in comparison_figures(reps))
    return (f'<section class="comparison" id="comparison"><h2>Comparison of {len(reps)} experiments</h2>'
            f"{_table(header, rows, numeric={3, 4, 6, 7}, cls='compare')}{warning}"
            '<p class="hint">Colour: the arm, as in every chart. Line style or hatching: the experiment.</p>'
            f"{figs}</section>")


def _toc(reps: list[ExperimentReport]) -> str:
    items = ['<li><a href="#comparison">Comparison</a></li>'] if len(reps) > 1 else []
    for rep in reps:
        items.append(f'<li><a href="#exp-{rep.id}">{html_text(rep.label)}</a>: '
                     f'<a href="#exp-{rep.id}-table">table</a>, <a href="#exp-{rep.id}-setup">setup</a>, '
                     f'<a href="#exp-{rep.id}-runs">every run</a></li>')
    return f'<nav class="toc"><strong>Contents</strong><ol>{"".join(items)}</ol></nav>'


def title(reps: list[ExperimentReport]) -> str:
    if len(reps) == 1:
        return f"Pretrained or from scratch? {reps[0].label}"
    return f"Pretrained or from scratch? {len(reps)} experiments compared"


def render_html(reps: list[ExperimentReport], mode: str = "interactive") -> str:
    """The whole document. ``mode``: "interactive" (zoom, hover) or "print" (static, page-width charts)."""
    out = _Figures(mode)
    body = [f"<h1>{html_text(title(reps))}</h1>", f'<p class="generated">{html_text(generated_line())}</p>', _toc(reps)]
    if len(reps) > 1:
        body.append(comparison_section(reps, out))
    body += [experiment_section(rep, out) for rep in reps]
    config = {"displaylogo": False, "responsive": mode != "print", "staticPlot": mode == "print",
              "toImageButtonOptions": {"scale": 2}}
    loader = LOADER % (json.dumps(config), PRINT_WIDTH_PX)
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="tlcompare {html_text(tlcompare.__version__)}">'
            f"<title>{html_text(title(reps))}</title><style>{CSS}</style></head>"
            f'<body class="{mode}">{"".join(body)}'
            f"<footer>{html_text(generated_line())}</footer>"
            f'<script charset="utf-8">{plotly.offline.get_plotlyjs()}</script><script>{loader}</script>'
            "</body></html>\n")
