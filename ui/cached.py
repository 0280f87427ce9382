"""Slow lookups the pages repeat on every rerun, cached for the Streamlit process.

Run lists are keyed by a stamp that changes whenever the experiment gains a result (its status
and number of finished runs), so a cached frame is never stale and never recomputed needlessly.
"""

from __future__ import annotations

import json

import streamlit as st

from tlcompare import analysis, label_multiplier, verdict
from tlcompare.dataset_facts import DatasetFacts, dataset_facts
from tlcompare.estimate import Throughput, cached_throughput
from tlcompare.gallery import ExperimentTestSet, experiment_test_set
from ui.state import store


def stamp(experiment: dict) -> tuple:
    # The store's path is part of the key: two stores (TLCOMPARE_HOMEs) both have an experiment 1.
    return str(store().path), experiment["id"], experiment["status"], experiment["n_finished"], experiment["n_runs"]


@st.cache_data(show_spinner="Reading the dataset…", max_entries=16)
def facts(dataset: str, data_root: str | None, val_fraction: float, test_fraction: float,
          split_seed: int) -> DatasetFacts | None:
    return dataset_facts(dataset, data_root, val_fraction, test_fraction, split_seed)


@st.cache_data(show_spinner=False, max_entries=32)
def throughput(model: str, image_size: int, batch_size: int, device: str, remeasure: int = 0) -> Throughput:
    # ``remeasure`` is a counter: bumping it is how the "measure again" button bypasses both caches.
    return cached_throughput(model, image_size, batch_size, device, remeasure=remeasure > 0)


@st.cache_data(show_spinner=False, max_entries=24)
def finished_runs(stamp: tuple) -> list[dict]:
    """The runs of a finished-enough experiment; ``stamp`` is ``stamp(experiment)``."""
    return store().experiment_runs(stamp[1])


@st.cache_data(show_spinner=False, max_entries=256)
def headline(stamp: tuple) -> str:
    runs = [r for r in finished_runs(stamp) if r["status"] == "done"]
    return verdict.headline(analysis.runs_frame(runs)) if runs else "no results yet"


@st.cache_data(show_spinner=False, max_entries=24)
def judged(stamp: tuple) -> verdict.Verdict:
    """The verdict of an experiment: every run (unfinished ones count as incomplete pairs) with the
    per-image results the test-set test needs, which the other pages never load."""
    experiment = store().get_experiment(stamp[1]) or {}
    runs = store().experiment_runs(stamp[1], test_correct=True)
    return verdict.build(analysis.runs_frame(runs), experiment.get("spec"),
                         (experiment.get("environment") or {}).get("n_test"))


@st.cache_data(show_spinner=False, max_entries=24)
def multiplier(stamp: tuple) -> label_multiplier.Multiplier:
    """The label multiplier and the time saved of an experiment's finished runs."""
    runs = [r for r in finished_runs(stamp) if r["status"] == "done"]
    return label_multiplier.build(analysis.runs_frame(runs), analysis.epochs_frame(runs), runs=runs)


@st.cache_resource(show_spinner="Loading the test images…", max_entries=2)
def _test_set(spec_json: str) -> ExperimentTestSet:
    return experiment_test_set(json.loads(spec_json))


def test_set(spec: dict) -> ExperimentTestSet:
    keep = {k: spec.get(k) for k in ("dataset", "data_root", "val_fraction", "test_fraction", "split_seed")}
    return _test_set(json.dumps(keep, sort_keys=True))
