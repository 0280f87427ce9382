"""Slow lookups the pages repeat on every rerun, cached for the Streamlit process.

Run lists and analysed frames are keyed by a stamp that changes whenever the experiment changes
(the store's change stamp, see tlcompare/store/schema.py), so a cached frame is never stale and
never recomputed needlessly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import streamlit as st

from tlcompare.analysis.view import ResultsView, analyse
from ui.state import store

if TYPE_CHECKING:  # these import torch: only the pages that train or show images load them
    from tlcompare.analysis.mistakes import ExperimentTestSet


def stamp(experiment: dict) -> tuple:
    # The store's path is part of the key: two stores (TLCOMPARE_HOMEs) both have an experiment 1.
    # ``changed`` is the store's change stamp of the experiment: any new result, run or edit moves it.
    # ``created`` too: a store file replaced at the same path (a restored backup) starts its ids and
    # stamps again, and must not be shown another experiment's cached analysis.
    return (str(store().path), experiment["id"], experiment["created"], experiment["status"], experiment["n_finished"],
            experiment["n_runs"], experiment.get("changed"))


# The analysed view of an experiment is kept as objects, not copies (cache_resource): every rerun
# of Results (a slider, a tab) reuses it without unpickling thousands of epoch rows. Callers must
# treat what these return as read-only.
@st.cache_resource(show_spinner="Reading the runs…", max_entries=8)
def finished_runs(stamp: tuple) -> list[dict]:
    """Every run of an experiment with its epochs and which test images it got right (the verdict's
    test), without confusion matrices or mistake samples (``artifacts`` reads those for the runs a
    page shows); ``stamp`` is ``stamp(experiment)``."""
    return store().experiment_runs(stamp[1], test_correct=True, artifacts=False)


@st.cache_resource(show_spinner=False, max_entries=256)
def memo(stamp: tuple, what: tuple, _build: Callable[[], Any]) -> Any:
    """``_build()``'s result, computed once per experiment content (``stamp``) and ``what`` (a name
    and the widget values it depends on): frames and figures of the analysed view."""
    return _build()


def artifacts(run_ids: list[int]) -> dict[int, dict]:
    """Confusion matrix and mistakes sample of a few runs, read when a page shows them."""
    return store().run_artifacts(run_ids)


def view(stamp: tuple, experiment: dict) -> ResultsView:
    """The analysed experiment (``tlcompare.analysis.view``) of ``finished_runs``: the object the
    report and ``tlcompare show`` read too. Kept per experiment content; each part is computed when
    the page first shows it."""
    return memo(stamp, ("view",), lambda: analyse(finished_runs(stamp), experiment.get("spec"),
                                                  experiment.get("environment"), _kept(experiment)))


def _kept(experiment: dict):
    """The multiplier the store kept for this content (store/analyses.py), or None."""
    from tlcompare.analysis import kept

    text = store().kept_multiplier(experiment["id"], experiment["changed"]) if experiment.get("changed") else None
    return kept.loads(text) if text else None


def keep(stamp: tuple, experiment: dict, view: ResultsView) -> None:
    """Keep a multiplier this page had to compute, once per content, so the next first look reads it."""
    if view.kept_multiplier is not None or store().readonly or not experiment.get("changed"):
        return

    def save() -> bool:
        from tlcompare.analysis import kept

        store().save_multiplier(experiment["id"], kept.dumps(view.computed_multiplier), experiment["changed"])
        return True

    memo(stamp, ("kept",), save)


def preview(stamp: tuple, experiment: dict) -> ResultsView:
    """The view of Report's preview: final metrics and per-image results, no epoch rows."""
    return memo(stamp, ("view", "finals"), lambda: analyse(
        store().experiment_runs(stamp[1], test_correct=True, epochs=False, artifacts=False),
        experiment.get("spec"), experiment.get("environment")))


@st.cache_resource(show_spinner="Loading the test images…", max_entries=2)
def _test_set(spec_json: str) -> ExperimentTestSet:
    from tlcompare.analysis.mistakes import test_set_in_child

    return test_set_in_child(json.loads(spec_json))


def test_set(spec: dict) -> ExperimentTestSet:
    keep = {k: spec.get(k) for k in ("dataset", "data_root", "val_fraction", "test_fraction", "split_seed")}
    return _test_set(json.dumps(keep, sort_keys=True))
