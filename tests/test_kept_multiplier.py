"""The label multiplier kept in the store: the worker keeps it when an experiment ends, Results reads it
while the experiment's content and tlcompare's version are the ones it was computed for, and computes
(and keeps) it otherwise."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import fields, replace

import pandas as pd
import pytest
import streamlit as st
from test_dashboard_pages import markdown_text, render

from tlcompare.analysis import kept
from tlcompare.analysis.view import analyse
from tlcompare.store import Store
from tlcompare.text.escape import markdown_safe

pytestmark = pytest.mark.slow  # the trained store is shared; copying it is what each test pays


@pytest.fixture
def home(finished_home, tmp_path, monkeypatch):
    """A copy of the finished store (its kept rows are changed here), as this test's home."""
    source, experiment_id = finished_home
    with sqlite3.connect(source / "tlcompare.db") as src, sqlite3.connect(tmp_path / "tlcompare.db") as dst:
        src.backup(dst)
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    from dashboard_fixtures import seed_throughput

    seed_throughput()
    return tmp_path, experiment_id


def computed(store: Store, experiment_id: int):
    e = store.get_experiment(experiment_id)
    return analyse(store.experiment_runs(experiment_id, test_correct=True, artifacts=False), e["spec"],
                   e.get("environment")).computed_multiplier


def assert_same(a, b) -> None:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        else:
            assert x == y, f.name


def test_the_worker_keeps_the_multiplier_and_it_reads_back_exactly(home):
    path, exp = home
    store = Store(path / "tlcompare.db")
    stamp = store.get_experiment(exp)["changed"]
    text = store.kept_multiplier(exp, stamp)
    assert text is not None, "the worker did not keep the multiplier when the experiment ended"
    assert_same(kept.loads(text), computed(store, exp))
    # Another content (a rename moves the stamp) or another version: not read.
    store.rename_experiment(exp, "renamed")
    assert store.kept_multiplier(exp, store.get_experiment(exp)["changed"]) is None
    assert store.kept_multiplier(exp, stamp) is not None  # still there, for that content only
    store._con().execute("UPDATE analyses SET version = 'older'")
    assert store.kept_multiplier(exp, stamp) is None
    assert kept.loads('{"format": 0, "multiplier": {}}') is None and kept.loads("not json") is None


def test_results_reads_the_kept_multiplier_and_keeps_one_it_computed(home):
    path, exp = home
    store = Store(path / "tlcompare.db")
    stamp = store.get_experiment(exp)["changed"]
    real = kept.loads(store.kept_multiplier(exp, stamp))
    assert real.lead
    # A kept multiplier with a lead no computation gives: the page shows it, so it read the store.
    marked = replace(real, lead="KEPT LEAD read from the store")
    store.save_multiplier(exp, kept.dumps(marked), stamp)
    st.cache_resource.clear()
    at = render("pages/results.py", query={"exp": str(exp)})
    assert not at.exception and "KEPT LEAD read from the store" in markdown_text(at)
    # Nothing kept: the page computes it, shows the real lead, and keeps it for the next look.
    store._con().execute("DELETE FROM analyses")
    st.cache_resource.clear()  # a server started afresh
    at = render("pages/results.py", query={"exp": str(exp)})
    assert not at.exception and "KEPT LEAD" not in markdown_text(at) and markdown_safe(real.lead) in markdown_text(at)
    assert_same(kept.loads(store.kept_multiplier(exp, stamp)), real)


def test_an_older_store_opened_read_only_has_nothing_kept_and_still_reads(home, tmp_path_factory):
    path, exp = home
    old = tmp_path_factory.mktemp("older") / "tlcompare.db"
    shutil.copy(path / "tlcompare.db", old)
    with sqlite3.connect(old) as con:
        con.execute("DROP TABLE analyses")
        con.execute("PRAGMA user_version = 4")
    store = Store(old, read_only=True)
    assert store.kept_multiplier(exp, store.get_experiment(exp)["changed"]) is None
    assert store.experiment_runs(exp, epochs=False)
