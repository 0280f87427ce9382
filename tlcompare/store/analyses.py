"""Each finished experiment's label multiplier, kept in the store (schema 5, ``analyses``).

The multiplier resamples scratch's curve a thousand times per variant and size; on a 320-run
experiment it is the largest part of Results' first look. It depends only on the runs, so it is kept
with the experiment's change stamp and the tlcompare version that computed it: the worker keeps it
when an experiment's last run ends, the Results page keeps one it had to compute, and a reader
takes it only while both still match (``Store.kept_multiplier``); anything else is computed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlcompare.store.rows import TERMINAL

if TYPE_CHECKING:
    from tlcompare.store import Store


def keep_when_finished(store: Store, experiment_id: int) -> None:
    """Called after a run ends: once the experiment has no run left to train, compute its multiplier
    (pandas and scipy, only then) and keep it."""
    experiment = store.get_experiment(experiment_id)
    if experiment is None or experiment["status"] not in TERMINAL or not experiment["n_done"] or store.readonly:
        return
    stamp = experiment["changed"]  # read before the runs: a change in between is never kept under it
    if store.kept_multiplier(experiment_id, stamp) is not None:
        return
    from tlcompare.analysis import kept
    from tlcompare.analysis.view import analyse

    runs = store.experiment_runs(experiment_id, test_correct=True, artifacts=False)
    view = analyse(runs, experiment["spec"], experiment.get("environment"))
    store.save_multiplier(experiment_id, kept.dumps(view.computed_multiplier), stamp)
