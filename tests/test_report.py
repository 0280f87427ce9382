"""Reports from real stored experiments: every format, read back and compared with the store.

Two experiments are trained once for this module on a small image folder whose first class is
called ``a<script>&b``; the first experiment's name and notes carry markup too, so every check
below also checks escaping.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from statistics import mean

import numpy as np
import pandas as pd
import pytest
from corpus import good_folder

from tlcompare import cli
from tlcompare.analysis import convergence
from tlcompare.analysis.frames import variant
from tlcompare.errors import UserError
from tlcompare.report import file_name, render_report, resolve_format
from tlcompare.report.pdf import missing as pdf_missing
from tlcompare.spec import build_spec
from tlcompare.store import Store
from tlcompare.text.escape import latex_text, markdown_text
from tlcompare.worker.process import Worker, WorkerConfig

pytestmark = pytest.mark.slow

NAME = "<script>alert(1)</script> & co"
CLASS = "a<script>&b"
NOTES = "Ask Kim & Lee about <b>augmentation</b>.\nSecond line."
PLOTLY_BUNDLE_START = "/**\n* plotly.js v"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """(store, first id, second id): lite0 with two depths and two seeds, then lite1 on the same photos."""
    home = tmp_path_factory.mktemp("report-home")
    root = good_folder(home / "photos", classes=(CLASS, "cat", "dog"), per_class=12)
    common = dict(dataset=f"imagefolder:{root}", sizes=[2, 4], budget="epochs", epochs=2, image_size=16, device="cpu")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOMPARE_HOME", str(home))
        store = Store(home / "tlcompare.db")
        first = store.create_experiment(build_spec(dict(common, model="efficientnet_lite0", freeze=[0, "all"], seeds=2,
                                                        name=NAME)))
        second = store.create_experiment(build_spec(dict(common, model="efficientnet_lite1", freeze=["all"], seeds=1,
                                                         name="lite1 on the same photos")))
        Worker(store, config=WorkerConfig(heartbeat_seconds=0.5, poll_seconds=0.1), log=lambda m: None).serve(once=True)
        store.set_notes(first, NOTES)
        assert [store.get_experiment(i)["status"] for i in (first, second)] == ["done", "done"]
        yield store, first, second


# -- reading the files back ----------------------------------------------------------------------------
class Html(HTMLParser):
    """Tables as lists of rows of cell text, figure JSON by key, every start tag, and the visible text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables, self.figures, self.tags, self.text = [], {}, [], []
        self._cell = self._script = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script" and "figure-data" in (attrs.get("class") or ""):
            self._script = (attrs["data-key"], attrs["data-target"], [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "script" and self._script is not None:
            key, target, parts = self._script
            self.figures[(target, key)] = json.loads("".join(parts))
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[2].append(data)
        elif self._cell is not None:
            self._cell.append(data)
        if not self.tags or self.tags[-1][0] != "script":
            self.text.append(data)

    def table_with(self, first_header: str) -> list[dict]:
        table = next(t for t in self.tables if t and t[0] and t[0][0] == first_header)
        return [dict(zip(table[0], row, strict=True)) for row in table[1:]]

    def figure(self, target: str) -> dict:
        return next(fig for (t, _), fig in self.figures.items() if t == target)


def values(array) -> list:
    """Plotly's JSON holds numeric arrays as base64 typed arrays."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return list(array)


def store_accuracy(runs) -> dict:
    """Mean final test accuracy per (variant, size) over seeds, straight from the run records."""
    acc = defaultdict(list)
    for r in runs:
        acc[(variant(r["arm"], r["freeze"]), r["size"])].append(r["final"]["test_acc"])
    return {k: mean(v) for k, v in acc.items()}


def store_gains(runs) -> dict:
    scratch = {(r["size"], r["seed"]): r["final"]["test_acc"] for r in runs if r["arm"] == "scratch"}
    gains = defaultdict(list)
    for r in runs:
        if r["arm"] != "scratch":
            gains[(variant(r["arm"], r["freeze"]), r["size"])].append(r["final"]["test_acc"] - scratch[(r["size"], r["seed"])])
    return {k: mean(v) for k, v in gains.items()}


# -- HTML ----------------------------------------------------------------------------------------------
def test_html_is_self_contained_and_holds_every_chart_and_the_stores_numbers(stored):
    store, first, _ = stored
    text = render_report(store, [first], "html").decode()
    doc = Html(text)
    runs = store.experiment_runs(first)
    env = store.get_experiment(first)["environment"]

    assert text.count(PLOTLY_BUNDLE_START) == 1  # inlined once
    assert not [a for t, a in doc.tags if t == "script" and a.get("src")]  # nothing from a CDN: it opens offline
    assert not [a for t, a in doc.tags if t == "link"]
    keys = {k for _, k in doc.figures}
    assert {"gap", "data_efficiency", "freezing", "curves_epoch", "curves_seconds", "overfit", "time_to_target",
            "training_time"} <= keys
    # The smallest and the largest size, three arms each, on one shared colour scale per figure.
    confusions = [fig for (_, k), fig in doc.figures.items() if k.startswith("confusion_")]
    assert len(confusions) == 2
    for fig in confusions:
        heatmaps = [t for t in fig["data"] if t["type"] == "heatmap"]
        assert len(heatmaps) == 3 and {t["coloraxis"] for t in heatmaps} == {"coloraxis"}
    for target, _ in doc.figures:  # each figure has its div
        assert ("div", {"class": "chart", "id": target}) in [(t, {k: v for k, v in a.items() if k != "style"})
                                                            for t, a in doc.tags]

    # the gap chart's bars are the paired differences of the stored runs
    gains = store_gains(runs)
    gap = doc.figure(f"fig-{first}-gap")
    px = store.get_experiment(first)["spec"]["image_size"]  # every chart names the resolution it speaks of
    assert all(re.search(f"( · |<br>){px} px images$", fig["layout"]["title"]["text"]) for fig in doc.figures.values())
    for trace in gap["data"]:
        for size, y in zip(trace["x"], values(trace["y"]), strict=True):
            assert y == pytest.approx(100 * gains[(trace["name"], int(size))])

    # the paired-difference table and the per-run appendix show the stored numbers
    acc = store_accuracy(runs)
    rows = doc.table_with("size / class")
    assert len(rows) == len(acc) == 6
    for row in rows:  # the Results page's wording: "53.2% ± 3.8", "+40.9 pts"
        key = (row["arm"], int(row["size / class"]))
        assert row["test accuracy"].split(" ± ")[0] == f"{100 * acc[key]:.1f}%"
        assert row["gain vs scratch"] == ("reference" if row["arm"] == "scratch" else f"{100 * gains[key]:+.1f} pts")
    # the overfitting section: plain training minus validation accuracy of every run
    gaps = doc.table_with("variant")
    assert len(gaps) == len(runs)
    assert sorted(float(g["gap (points)"]) for g in gaps) == pytest.approx(
        sorted(round(100 * (r["final"]["train_acc_clean"] - r["final"]["val_acc"]), 1) for r in runs), abs=0.051)
    appendix = {int(r["run"]): r for r in doc.table_with("run")}
    assert sorted(appendix) == sorted(r["run_id"] for r in runs)
    for r in runs:
        assert appendix[r["run_id"]]["test acc %"] == f"{100 * r['final']['test_acc']:.2f}"
        assert appendix[r["run_id"]]["subset"] == r["subset_hash"]

    visible = " ".join(" ".join(doc.text).split())
    from tlcompare.analysis import verdict
    from tlcompare.analysis.frames import runs_frame

    judged = verdict.build(runs_frame(store.experiment_runs(first, test_correct=True)),
                           store.get_experiment(first)["spec"], env.get("n_test"))
    assert judged.answer in visible and judged.answer.startswith("The best of 2 pretrained variants")
    for line in [*judged.lines, *judged.caveats, judged.method]:
        assert " ".join(line.split()) in visible
    assert "test set p" in visible and "Budget: equal epochs for both arms of every pair (2 per run)." in visible
    manifest = dict(next(t for t in doc.tables if t and t[0][0] == "tlcompare (training)"))
    assert manifest["dataset fingerprint"] == env["dataset_fingerprint"] and len(env["dataset_fingerprint"]) == 16
    assert manifest["torch"] == env["torch"] and manifest["torchvision"] == env["torchvision"]
    assert manifest["seeds"] == "2 seeds (0, 1)" and "your own images" in manifest["dataset licence"]
    # People read words, not the spec's keys: "learning rate, scratch", never "lr_scratch".
    spec_rows = dict(next(t for t in doc.tables if t and t[0][0] == "dataset"))
    assert "learning rate, scratch" in spec_rows and "labelled images per class" in spec_rows
    assert not [k for k in spec_rows if "_" in k]
    assert "2 seeds" in visible and "1 seeds" not in visible
    assert manifest["device"] == env["device"]


def test_user_text_is_escaped_in_html(stored):
    store, first, _ = stored
    text = render_report(store, [first], "html").decode()
    doc = Html(text)
    page = text[: text.index(PLOTLY_BUNDLE_START)]  # the bundle is plotly's own code
    assert "<script>alert" not in page and "<b>augmentation" not in page and "a<script>&b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "Ask Kim &amp; Lee about &lt;b&gt;augmentation&lt;/b&gt;." in page
    assert "a&lt;script&gt;&amp;b, cat, dog" in page  # the class list of the environment manifest
    scripts = [a for t, a in doc.tags if t == "script"]
    assert len(scripts) == len(doc.figures) + 2  # the figures' JSON, plotly, the loader: nothing injected
    assert not [t for t, _ in doc.tags if t == "b"]
    # chart labels: plotly renders tags and entities inside labels, so they reach it escaped once more
    confusion = next(fig for (_, k), fig in doc.figures.items() if k.startswith("confusion_"))
    assert confusion["data"][0]["x"][0] == "a&lt;script&gt;&amp;b"


# -- CSV and JSON ---------------------------------------------------------------------------------------
def test_csv_round_trips_to_the_stored_values(stored):
    store, first, second = stored
    csv = pd.read_csv(io.BytesIO(render_report(store, [first, second], "csv")), keep_default_na=False)
    runs = {r["run_id"]: r for i in (first, second) for r in store.experiment_runs(i)}
    assert len(csv) == sum(len(r["epochs"]) for r in runs.values())
    assert set(csv["experiment_name"]) == {NAME, "lite1 on the same photos"}
    for _, row in csv.iterrows():
        run = runs[row["run_id"]]
        epoch = run["epochs"][row["epoch"] - 1]
        assert row["experiment_id"] == run["experiment_id"] and row["epoch"] == epoch["epoch"]
        for k in ("arm", "size", "seed", "model", "status", "subset_hash", "config_hash", "trainable_params", "n_train"):
            assert row[k] == run[k], k
        assert row["freeze"] == ("" if run["freeze"] is None else str(run["freeze"]))
        assert row["variant"] == variant(run["arm"], run["freeze"])
        assert row["run_lr"] == run["lr"] and row["run_batch_size"] == run["batch_size"]
        for k, v in run["final"].items():
            assert row[f"final_{k}"] == v, k  # floats exactly: the CSV keeps every digit
        for k, v in epoch.items():
            # A probe's body rate is empty (nothing in the body trains), so that column reads as text.
            cell = float(row[k]) if isinstance(v, float) and isinstance(row[k], str) else row[k]
            assert cell == ("" if v is None else v), k


def test_json_round_trips_and_keeps_the_run_shape(stored):
    store, first, second = stored
    doc = json.loads(render_report(store, [first, second], "json"))
    assert doc["format"] == "tlcompare-report" and [e["id"] for e in doc["experiments"]] == [first, second]
    one = doc["experiments"][0]
    exported = store.export_experiment(first)
    assert one["name"] == NAME and one["notes"] == NOTES and one["spec"] == exported["spec"]
    assert one["environment"]["class_names"] == [CLASS, "cat", "dog"]
    for mine, theirs, stored_run in zip(one["runs"], exported["runs"], store.experiment_runs(first), strict=True):
        assert mine["run_id"] == stored_run["run_id"]
        for k, v in theirs.items():  # every field of `tlcompare run --out`, same values
            assert mine[k] == (None if isinstance(v, float) and math.isnan(v) else v), k


# -- one view -------------------------------------------------------------------------------------------
def test_results_page_report_and_show_say_the_same(stored, monkeypatch, capsys):
    """The Results page, the report and `tlcompare show` lay out one analysed experiment: the same lead,
    verdict, best variant per size, multiplier lines, budget and flags, word for word."""
    from streamlit.testing.v1 import AppTest

    from tlcompare.analysis.view import analyse
    from tlcompare.text.escape import markdown_safe

    store, first, _ = stored
    exp = store.get_experiment(first)
    view = analyse(store.experiment_runs(first, test_correct=True), exp["spec"], exp["environment"])
    # these short runs end underfit: the verdict is provisional, and says so first
    assert view.multiplier.lead and view.verdict.answer.startswith("Provisional: ")
    assert "The best of 2 pretrained variants" in view.verdict.answer
    # the lead names the verdict's best variant at the smallest size: best_per_size chooses it once
    best = view.best.iloc[0]
    row = view.multiplier.table.set_index(["variant", "size"]).loc[(best["variant"], best["size"])]
    # ...and, as these short runs end underfit, says that the gap may show the budget
    assert view.multiplier.lead == f"{label_multiplier_sentence(row, best)} {convergence.lead_caveat(view.flags)}"
    assert "did not finish learning" in view.multiplier.lead

    monkeypatch.setenv("TLCOMPARE_HOME", str(store.path.parent))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["exp"] = str(first)
    at.switch_page("pages/results.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    page = [m.value for m in at.markdown] + [c.value for c in at.caption]
    for text in (view.multiplier.lead, view.verdict.answer, *view.verdict.lines, *view.multiplier.lines):
        assert any(markdown_safe(text) in shown for shown in page), text
    assert any(view.budget in shown for shown in page)
    metrics = [m.label for m in at.metric]
    for _, r in view.best.iloc[[0, -1]].iterrows():
        name = r["variant"].removeprefix("pretrained, ")
        assert f"{name[0].upper() + name[1:]}, {int(r['size'])} per class" in metrics

    md = " ".join(render_report(store, [first], "md").decode().split())
    for text in (view.multiplier.lead, view.verdict.answer, view.budget, view.flags_summary):
        assert " ".join(markdown_text(text).split()) in md, text

    assert cli.main(["show", str(first)]) == 0
    shown = capsys.readouterr().out
    for text in (view.verdict.answer, *view.verdict.lines, *view.verdict.caveats, *view.multiplier.lines,
                 view.budget, view.flags_summary):
        assert text in shown, text


def label_multiplier_sentence(row, best) -> str:
    from tlcompare.analysis import label_multiplier

    return label_multiplier.sentence({**row.to_dict(), "variant": best["variant"], "size": best["size"]})


# -- Markdown and LaTeX ---------------------------------------------------------------------------------
def test_markdown_table_holds_mean_and_spread_per_arm_and_size(stored):
    store, first, second = stored
    md = render_report(store, [first, second], "md").decode()
    assert f"### \\#{first} \\<script\\>alert(1)\\</script\\> \\& co" in md
    assert f"### \\#{second} lite1 on the same photos" in md
    header = next(line for line in md.splitlines() if line.startswith("| size / class | scratch"))
    assert header == "| size / class | scratch | pretrained, fine-tune all | pretrained, linear probe |"
    runs = store.experiment_runs(first)
    acc = store_accuracy(runs)
    row = next(line for line in md.splitlines() if line.startswith("| 2 |"))
    cells = [c.strip().strip("*") for c in row.strip("|").split("|")][1:]
    for cell, name in zip(cells, ["scratch", "pretrained, fine-tune all", "pretrained, linear probe"], strict=True):
        sd = np.std([r["final"]["test_acc"] for r in runs if r["size"] == 2 and variant(r["arm"], r["freeze"]) == name],
                    ddof=1)
        assert cell == f"{100 * acc[(name, 2)]:.1f} ± {100 * sd:.1f}"


def test_latex_escapes_names_and_compiles_to_one_table_per_metric(stored):
    store, first, _ = stored
    tex = render_report(store, [first], "tex").decode()
    assert "<script>" not in tex and not re.search(r"(?<!\\)& co", tex)
    assert r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{} \& co" in tex
    # accuracy, gain over scratch, label multiplier
    assert tex.count(r"\begin{tabular}") == 3 and tex.count(r"\toprule") == 3 and f"tab:tlcompare-{first}-multiplier" in tex
    body = [line for line in tex.splitlines() if line.startswith("2 & ")][0]
    assert body.count("&") == 3 and r"$\pm$" in body  # size and three arms: no stray column separator


def test_escaping_functions():
    assert latex_text(r"50% of #1 & {x}_y ~ ^ \ $") == (r"50\% of \#1 \& \{x\}\_y \textasciitilde{} "
                                                         r"\textasciicircum{} \textbackslash{} \$")
    assert markdown_text("a|b *c* <i>\nnext") == r"a\|b \*c\* \<i\> next"


# -- PDF ------------------------------------------------------------------------------------------------
needs_printer = pytest.mark.skipif(pdf_missing() is not None or shutil.which("pdftotext") is None,
                                   reason="needs Chromium, playwright and pdftotext (.ci/system-deps.sh installs them)")


@contextlib.contextmanager
def cpu_hog(n: int = 2):
    """``n`` processes spinning beside the test: a busy CI machine, or a laptop compiling something."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.browser
@needs_printer
def test_pdf_has_the_verdict_charts_tables_and_every_run(stored, tmp_path):
    """Printed through the Chromium on this machine (the one .ci/system-deps.sh installs) while two
    processes keep both cores busy: the printer waits for the page's own "charts drawn" signal."""
    store, first, second = stored
    pdf = tmp_path / "report.pdf"
    with cpu_hog(2):
        pdf.write_bytes(render_report(store, [first, second], "pdf"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    flat = " ".join(text.split())
    from tlcompare.analysis import label_multiplier, verdict
    from tlcompare.analysis.frames import runs_frame
    from tlcompare.report.content import load_experiments
    from tlcompare.text.headline import headline

    # Page 1 carries each experiment's headline, the one Results leads with.
    page_one = " ".join(pages[0].split())
    for rep in load_experiments(store, [first, second]):
        assert " ".join(headline(rep.view).sentence.split()) in page_one
    exp = store.get_experiment(first)
    judged = verdict.build(runs_frame(store.experiment_runs(first, test_correct=True)), exp["spec"],
                           exp["environment"].get("n_test"))
    assert " ".join(judged.answer.split()) in flat
    lead = label_multiplier.build(runs_frame(store.experiment_runs(first))).lead
    assert lead and " ".join(lead.split()) in flat  # the label multiplier leads the verdict on paper too
    assert "Label multiplier: images per class scratch needs" in flat  # its chart's title
    assert "Comparison of 2 experiments" in flat
    assert "labelled training images per class" in flat  # axis titles: plotly drew the charts before printing
    assert "Paired differences" in flat and "Appendix: every run" in flat
    assert "<script>alert(1)</script> & co" in flat  # escaped in HTML means shown literally on paper
    assert "EfficientNet-Lite0" in flat and "random shifts" in flat and "AdamW" in flat  # the form's words
    assert len([p for p in pages if p.strip()]) >= 8
    last_appendix = max(r["run_id"] for r in store.experiment_runs(second))
    assert any(f"{last_appendix} pretrained, linear probe 4 0 done" in " ".join(p.split()) for p in pages)


@pytest.mark.browser
@needs_printer
def test_a_page_whose_charts_never_finish_fails_in_time_with_one_line(monkeypatch):
    """No "charts drawn" signal: the printer gives up after the limit for one chart and says so."""
    from tlcompare.report import pdf

    monkeypatch.setattr(pdf, "DRAW_SECONDS", 3)
    monkeypatch.setattr(pdf, "DRAW_SECONDS_PER_CHART", 1)
    page = f'<html><body><div id="c"></div><script type="application/json" {pdf.FIGURE_MARK}>{{}}</script></body></html>'
    with pytest.raises(UserError) as e:
        pdf.html_to_pdf(page)
    assert str(e.value).endswith("drew 0 of 1 charts in 4 s and the report was not printed: the machine may be too "
                                 "busy; try again")
    assert "\n" not in str(e.value)


def test_without_playwright_the_pdf_names_the_package(monkeypatch):
    from tlcompare.report import pdf

    real = pdf.importlib.util.find_spec
    monkeypatch.setattr(pdf.importlib.util, "find_spec", lambda name, *a: None if name == "playwright" else real(name, *a))
    assert pdf.missing() == pdf.PLAYWRIGHT_HINT
    with pytest.raises(UserError, match="pip install playwright"):
        pdf.html_to_pdf("<html></html>")


# -- the command line -----------------------------------------------------------------------------------
def test_cli_writes_each_format_without_plotly_for_text(stored, tmp_path, capsys):
    store, first, second = stored
    env = {**os.environ, "TLCOMPARE_HOME": str(store.path.parent)}
    script = (f"import sys; from tlcompare import cli; rc = cli.main(['report', '{first}', '{second}', '--out', "
              f"'{tmp_path / 'all.csv'}']); print(rc, 'plotly' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert p.stdout.split() == ["0", "False"], p.stderr  # a GPU machine without plotly can still export
    assert pd.read_csv(tmp_path / "all.csv")["experiment_id"].nunique() == 2

    os.environ["TLCOMPARE_HOME"] = str(store.path.parent)  # the conftest fixture restores it
    assert cli.main(["report", str(first), "--format", "md", "--out", "-"]) == 0
    assert "| size / class |" in capsys.readouterr().out
    assert cli.main(["report", "999", "--out", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err.strip() == "tlcompare: error: no experiment 999 (see `tlcompare ls`)"
    assert not (tmp_path / "x.html").exists()
    assert resolve_format(None, "r.tex") == "tex" and resolve_format(None, None) == "html"
    assert file_name([3, 4, 3], "pdf") == "tlcompare-report-3-4.pdf"


def test_several_experiments_share_overlaid_comparison_charts(stored):
    store, first, second = stored
    doc = Html(render_report(store, [first, second], "html").decode())
    compare = doc.table_with("experiment")
    assert [r["experiment"] for r in compare] == [f"#{first} {NAME}", f"#{second} lite1 on the same photos"]
    fingerprints = {r["data fingerprint"] for r in compare}
    assert len(fingerprints) == 1 and "not recorded" not in fingerprints  # the same photos, recorded at training
    for key in ("gap", "efficiency"):
        names = [t.get("name") or "" for t in doc.figure(f"fig-compare-compare_{key}")["data"]]
        assert any(n.startswith(f"#{first} &lt;script&gt;") for n in names)
        assert any(n.startswith(f"#{second} lite1") for n in names)
        assert all(" px · " in n for n in names if n.startswith("#"))  # each experiment's resolution
    assert f"fig-{first}-gap" in {t for t, _ in doc.figures} and f"fig-{second}-gap" in {t for t, _ in doc.figures}
    # Each experiment's bars stand beside the other's, and a variant keeps its colour in both experiments.
    bars = [t for t in doc.figure("fig-compare-compare_gap")["data"] if t["type"] == "bar"]
    assert len({t["offsetgroup"] for t in bars}) == len(bars)
    colour = {}
    for t in bars:
        colour.setdefault(t["name"].rsplit(" · ", 1)[1], set()).add(t["marker"]["color"])
    assert colour and all(len(c) == 1 for c in colour.values()), colour
    # People read the dataset's and the model's names, not their keys.
    assert [r["model"] for r in compare] == ["EfficientNet-Lite0", "EfficientNet-Lite1"]
    assert [r["seeds"] for r in compare] == ["2", "1"]


def test_an_experiment_without_results_still_reports(tlcompare_home):
    store = Store()
    exp = store.create_experiment(build_spec(dict(dataset="digits", sizes=[2], seeds=1, budget="epochs", epochs=1, image_size=16)),
                                  name="=HYPERLINK(\"x\")\nsecond line")
    csv = pd.read_csv(io.BytesIO(render_report(store, [exp], "csv")), keep_default_na=False)
    assert list(csv.columns[:3]) == ["experiment_id", "experiment_name", "run_id"] and "final_test_acc" in csv
    assert len(csv) == 3 and set(csv["status"]) == {"queued"} and set(csv["epoch"]) == {""}
    assert csv["experiment_name"][0].startswith("'=")  # a spreadsheet shows it rather than running it
    assert "No finished runs yet." in render_report(store, [exp], "md").decode()
    tex = render_report(store, [exp], "tex").decode()
    assert "no finished runs yet" in tex and "\nsecond line" not in tex  # the name cannot leave its comment line
    doc = Html(render_report(store, [exp], "html").decode())
    assert not doc.figures and "No run of this experiment has finished yet." in " ".join(doc.text)
