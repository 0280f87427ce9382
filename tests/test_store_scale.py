"""What keeps large stores fast, checked by what is read, never by how long it takes (the timings
are benchmarks/store_scale.py's, in docs/benchmarks.md): History reads no epoch rows, an idle Live
poll reads one stamp, stored headlines equal a recomputation, and older stores migrate."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tlcompare.analysis import frames as analysis
from tlcompare.analysis import verdict
from tlcompare.live.view import refresh
from tlcompare.store import Store
from tlcompare.store import schema as store_schema
from tlcompare.store.headlines import headlines, store_when_finished

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import store_scale  # noqa: E402  (the benchmark's filler: the worker's own store calls, no training)

APP = str(ROOT / "app.py")


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """Every SQL statement any Store connection runs from now on, in order."""
    seen: list[str] = []
    connect = Store._connect

    def traced(self):
        con = connect(self)
        con.set_trace_callback(seen.append)
        return con

    monkeypatch.setattr(Store, "_connect", traced)
    return seen


def reads_epochs(sql: str) -> bool:
    return re.search(r"\b(FROM|JOIN)\s+epochs\b", sql, re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def small_home(tmp_path_factory) -> tuple[Path, list[int]]:
    home = tmp_path_factory.mktemp("scale-home")
    ids = store_scale.fill(home / "tlcompare.db", "small")
    return home, ids


def test_history_reads_no_epoch_rows(small_home, statements, monkeypatch):
    home, ids = small_home
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/history.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["History"]
    table = at.dataframe[0].value
    assert len(table) == len(ids) and not table["headline"].str.contains("no results").any()
    assert statements, "the trace saw no statement: the store was not opened through Store._connect"
    assert not [s for s in statements if reads_epochs(s)]


def test_history_pages_and_filters(tmp_path, monkeypatch):
    import time

    from ui.history_filter import matching

    experiments = [{"name": f"run {i}", "notes": "baseline" if i == 3 else "", "dataset": "digits" if i % 2 else "mnist",
                    "model": "m", "status": "done" if i < 5 else "running", "created": time.mktime((2026, 11, 1 + i, 12, 0, 0, 0, 0, -1))}
                   for i in range(8)]
    assert [e["name"] for e in matching(experiments, "BASELINE")] == ["run 3"]
    assert {e["dataset"] for e in matching(experiments, datasets=["mnist"])} == {"mnist"}
    assert [e["name"] for e in matching(experiments, statuses=["running"], since="2026-11-07")] == ["run 6", "run 7"]
    assert matching(experiments) == experiments


def test_stored_headline_matches_a_recomputation(small_home):
    home, ids = small_home
    store = Store(home / "tlcompare.db")
    for experiment_id in ids:
        store_when_finished(store, experiment_id)
    for e in store.list_experiments():
        runs = [r for r in store.experiment_runs(e["id"]) if r["status"] == "done"]
        assert e["headline"] is not None and e["headline"] == verdict.headline(analysis.runs_frame(runs))
    # Any change to an experiment makes its stored headline stale, never silently wrong.
    store.rename_experiment(ids[0], "renamed")
    stale = {e["id"]: e for e in store.list_experiments()}[ids[0]]
    assert stale["headline"] is None
    assert headlines(store, [stale])[ids[0]] == verdict.headline(analysis.runs_frame(
        [r for r in store.experiment_runs(ids[0]) if r["status"] == "done"]))
    assert {e["id"]: e for e in store.list_experiments()}[ids[0]]["headline"] is not None


def test_idle_live_poll_reads_one_stamp_and_a_change_reads_again(tmp_path, statements):
    path = tmp_path / "tlcompare.db"
    experiment_id = store_scale.fill(path, "small", leave_running=1)[-1]
    store = Store(path)
    view = refresh(store, experiment_id, None, "20")
    running = [r for r in view.runs if r["status"] == "running"]
    assert len(running) == 1 and len(running[0]["epochs"]) == 10
    statements.clear()
    assert refresh(store, experiment_id, view, "20") is view
    assert len(statements) == 1 and "FROM experiments WHERE id" in statements[0], statements
    # One new epoch: the next poll reads the runs again and shows it.
    claimed = running[0]
    store.add_epoch(claimed["run_id"], "bench-worker", claimed["attempts"], {**claimed["epochs"][-1], "epoch": 11})
    after = refresh(store, experiment_id, view, "20")
    assert after is not view
    assert [len(r["epochs"]) for r in after.runs if r["status"] == "running"] == [11]
    # A heartbeat that moves nothing shown is not a change.
    stamp = store.experiment_stamp(experiment_id)
    store.worker_heartbeat("bench-worker", claimed["run_id"], claimed["attempts"])
    assert store.experiment_stamp(experiment_id) == stamp
    # A step within the epoch: the progress is read again, the runs, figure and table are not.
    statements.clear()
    store.worker_heartbeat("bench-worker", claimed["run_id"], claimed["attempts"], step=7, total_steps=100)
    stepped = refresh(store, experiment_id, after, "20")
    assert stepped.stamp != after.stamp and stepped.progress["running"][0]["step"] == 7
    assert stepped.figure is after.figure and stepped.table is after.table and stepped.runs is after.runs
    assert not [q for q in statements if "metrics" in q], statements  # no epoch records read


def test_results_reads_artifacts_of_the_shown_pair_only(small_home, statements, monkeypatch):
    home, ids = small_home
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))

    def blobs() -> list[str]:
        return [s for s in statements if re.search(r"\bmisclassified\b", s) and "NULL AS misclassified" not in s
                and "FROM artifacts" in s]

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["exp"] = str(ids[-1])
    at.switch_page("pages/results.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not blobs(), "the answer tab reads no artifacts: the Mistakes tab is closed"
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"exp": str(ids[-1]), "tab": "Mistakes"})
    at.switch_page("pages/results.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # One read, of the chosen size and seed's three arms (the trace shows the bound ids).
    assert len(blobs()) == 1 and re.search(r"run_id IN \(\d+, \d+, \d+\)", blobs()[0]), blobs()
    assert at.get("plotly_chart"), "the Mistakes tab shows the pair's confusion matrices"


def plotted(values) -> list[float]:
    """A figure's array as plotly's JSON holds it: a list, or typed bytes in base64."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_results_draw_a_pinned_baseline_from_its_own_view(small_home, monkeypatch):
    """The pinned experiment's view is the one its own Results page shows: its gains are drawn dotted on
    the gap chart of another experiment, and the page names it."""
    from tlcompare.analysis.view import analyse

    home, ids = small_home
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    store = Store(home / "tlcompare.db")
    store.set_pinned(ids[0])
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["exp"] = str(ids[-1])
        at.switch_page("pages/results.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(f"The baseline, #{ids[0]}" in c.value for c in at.caption)
        gap = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("gap")
                   or "Gain over training from scratch" in c.proto.spec)
        drawn = {t["name"]: plotted(t["y"]) for t in gap["data"] if t.get("name", "").startswith(f"baseline #{ids[0]}: ")}
        base = analyse(store.experiment_runs(ids[0], test_correct=True)).diffs
        assert set(drawn) == {f"baseline #{ids[0]}: {v}" for v in base["variant"]}
        for v, g in base.groupby("variant"):
            assert drawn[f"baseline #{ids[0]}: {v}"] == pytest.approx(list(100 * g["mean_diff"]))
    finally:
        store.set_pinned(ids[0], False)
        store.close()


def test_a_store_of_the_previous_schema_migrates(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    with monkeypatch.context() as old:  # the schema as it was: no change stamp, no headlines
        old.setattr(store_schema, "MIGRATIONS", store_schema.MIGRATIONS[:2])
        old.setattr(store_schema, "SCHEMA_VERSION", 2)
        store = Store(path)
        from tlcompare.spec import build_spec

        experiment_id = store.create_experiment(build_spec({"sizes": [2, 5], "seeds": 1, "freeze": ["all"], "epochs": 3}))
        import random

        while (claimed := store.claim("w")) is not None:
            store.finish_run(claimed["run_id"], "w", claimed["attempt"], store_scale._result(claimed, 3, random.Random(0))[1])
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2

    store = Store(path)  # opening with this version migrates
    assert store._con().execute("PRAGMA user_version").fetchone()[0] == store_schema.SCHEMA_VERSION
    (e,) = store.list_experiments()
    assert e["status"] == "done" and e["n_runs"] == 4 and e["headline"] is None
    text = headlines(store, [e])[experiment_id]
    assert text.startswith("pretrained vs scratch") and store.list_experiments()[0]["headline"] == text
    before = store.experiment_stamp(experiment_id)
    store.request_cancel(experiment_id)  # nothing left to cancel: no change
    assert store.experiment_stamp(experiment_id) == before
    store.rename_experiment(experiment_id, "new name")
    assert store.experiment_stamp(experiment_id)[0] > before[0]


@pytest.mark.slow  # new interpreters, timed
def test_reading_pages_and_ls_do_not_import_torch(small_home):
    """Every page that only reads (Results with its gallery of test images, decoded by a child
    process), and `tlcompare ls` (not pandas either), in fresh processes."""
    import os
    import subprocess

    home, ids = small_home
    env = dict(os.environ, TLCOMPARE_HOME=str(home), PYTHONPATH=str(ROOT))
    script = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        "tabs = ('Freezing depth', 'Learning curves', 'Overfitting', 'Time', 'Mistakes')\n"
        "for page, tab in [('history', ''), ('live', ''), ('results', ''), *[('results', t) for t in tabs], ('report', '')]:\n"
        f"    at = AppTest.from_file({APP!r}, default_timeout=120)\n"
        f"    at.query_params['exp'] = '{ids[-1]}'\n"
        "    if tab:\n"
        "        at.query_params['tab'] = tab\n"
        "    at.switch_page(f'pages/{page}.py').run()\n"
        "    if tab == 'Mistakes':\n"
        "        at.toggle(key='show_mistakes').set_value(True).run()\n"
        "    assert not at.exception, [e.value for e in at.exception]\n"
        "    assert tab != 'Mistakes' or at.image, 'the gallery of test images'\n"
        "print('torch' in sys.modules)\n")
    assert _last_line(script, env) == "False"
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "tlcompare", "ls"], env=env, capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
    assert imports.returncode == 0 and f"{ids[-1]} " in imports.stdout
    modules = {line.rsplit("|", 1)[-1].strip() for line in imports.stderr.splitlines() if line.startswith("import time:")}
    assert "tlcompare.store" in modules and not {"torch", "pandas"} & modules


@pytest.mark.slow  # a new interpreter
def test_results_imports_are_loaded_after_the_first_page_and_torch_is_not(small_home):
    """A fresh server's first page starts the warm-up (ui/warm.py), so Results' first view finds
    scipy.stats and plotly loaded; what it loads never includes torch."""
    import os

    home, _ = small_home
    env = dict(os.environ, TLCOMPARE_HOME=str(home), PYTHONPATH=str(ROOT))
    script = (
        "import sys, threading\nfrom streamlit.testing.v1 import AppTest\n"
        "assert 'scipy.stats' not in sys.modules\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=120)\n"
        "at.switch_page('pages/history.py').run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "warm = [t for t in threading.enumerate() if t.name == 'tlcompare-warm-imports']\n"
        "assert len(warm) <= 1\n"
        "[t.join(120) for t in warm]\n"
        "import ui.warm\n"
        "print(ui.warm._started.is_set(), all(m in sys.modules for m in ('scipy.stats', 'plotly.graph_objects', *ui.warm.MODULES)),"
        " 'torch' in sys.modules)\n")
    assert _last_line(script, env) == "True True False"


def _last_line(script: str, env: dict) -> str:
    """The last line ``script`` prints in a fresh interpreter, which must exit cleanly."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_live_curves_of_hundreds_of_runs_are_bands_plus_the_runs_in_flight():
    from synthetic_runs import synth_runs

    from tlcompare.charts import figures as charts

    runs = synth_runs(seeds=10, epochs=5)  # 3 variants x 8 sizes x 10 seeds = 240 runs
    runs[0]["status"] = "running"
    fig = charts.live_curves(analysis.epochs_frame(runs))
    bands = [t for t in fig.data if t.fill == "toself"]
    lines = [t for t in fig.data if t.fill != "toself"]
    assert len(bands) == 3 * 8  # one per variant and size
    assert len(lines) == 3 * 8 + 1  # each band's mean, and the run still training on its own
    few = charts.live_curves(analysis.epochs_frame(synth_runs(seeds=2, epochs=5)))
    assert len(few.data) == 3 * 8 * 2 and not [t for t in few.data if t.fill == "toself"]  # one line per run
