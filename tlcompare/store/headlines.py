"""Each experiment's one-line headline for History, kept in the store.

A headline depends only on the runs' final metrics, so it is computed from them (never from the
epoch rows) and stored with the experiment's change stamp: the worker stores it when an
experiment's last run ends, and whoever reads a stale one (an experiment still running, a store
written before headlines were kept) computes it once and stores it for everyone after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlcompare.store.rows import TERMINAL

if TYPE_CHECKING:
    from tlcompare.store import Store

NO_RESULTS = "no results yet"


def compute(runs: list[dict]) -> str:
    """The headline of these runs (final metrics only), as verdict.headline words it."""
    done = [r for r in runs if r["status"] == "done"]
    if not done:
        return NO_RESULTS
    from tlcompare.analysis import frames as analysis
    from tlcompare.analysis import tuning, verdict  # pandas: only when a headline is actually computed

    return verdict.headline(analysis.runs_frame(tuning.choose(done).runs))  # a tuned grid: its best rates


def headlines(store: Store, experiments: list[dict]) -> dict[int, str]:
    """The headline of each of ``experiments`` (dicts from list_experiments), by id: the stored one
    when it is current, else computed from final metrics in one read and stored (when the store
    can be written)."""
    out = {e["id"]: e["headline"] for e in experiments if e.get("headline") is not None}
    out.update({e["id"]: NO_RESULTS for e in experiments if not e["n_finished"]})
    stale = [e for e in experiments if e["id"] not in out]
    if not stale:
        return out
    finals = store.experiment_finals([e["id"] for e in stale])
    for e in stale:
        out[e["id"]] = text = compute(finals[e["id"]])
        if not store.readonly:
            store.save_headline(e["id"], text, e["changed"])
    return out


def store_when_finished(store: Store, experiment_id: int) -> None:
    """Called after a run ends: once the experiment has no run left to train, keep its headline."""
    experiment = store.get_experiment(experiment_id)
    if experiment is not None and experiment["status"] in TERMINAL:
        headlines(store, [experiment])
