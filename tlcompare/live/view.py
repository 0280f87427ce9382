"""What the Live page shows, read once per change of the experiment and kept between polls.

The page has two polls (pages/live.py): the progress (bar, step counter) every few seconds and
the curves and run table less often. Each poll reads the experiment's change stamp first (one row,
see store_schema) and nothing more when it has not moved. While a run trains the stamp moves with
every step: the progress poll then reads the progress alone (``poll_progress``, one query); the
curves' poll (``refresh``) reads the runs again (without confusion matrices or mistake samples) and
rebuilds the figure and table only when an epoch ended or a run changed state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from tlcompare.store import Store


@dataclass(frozen=True)
class LiveView:
    stamp: tuple[int, str]
    progress: dict
    runs: list[dict]
    figure: Any  # a plotly Figure, reused as is while nothing changes
    table: pd.DataFrame
    content: tuple = ()  # what the figure and table show: run states and epochs so far


@dataclass(frozen=True)
class LiveProgress:
    stamp: tuple[int, str]
    progress: dict


def poll_progress(store: Store, experiment_id: int, previous: LiveProgress | None) -> LiveProgress:
    """``previous`` when the experiment has not changed since it was read, else its progress now."""
    stamp = store.experiment_stamp(experiment_id)
    if previous is not None and stamp == previous.stamp:
        return previous
    return LiveProgress(stamp, store.experiment_progress(experiment_id))


def _content(progress: dict) -> tuple:
    return (tuple(sorted(progress["counts"].items())), progress["total"],
            tuple((r["run_id"], r["epoch"]) for r in progress["running"]))


def refresh(store: Store, experiment_id: int, previous: LiveView | None, planned: str, large: bool = False) -> LiveView:
    """``previous`` when the experiment has not changed since it was read, else a new view."""
    stamp = store.experiment_stamp(experiment_id)
    if previous is not None and stamp == previous.stamp:
        return previous
    from tlcompare.analysis.frames import epochs_frame
    from tlcompare.charts import figures as charts
    from tlcompare.live.table import runs_table

    progress = store.experiment_progress(experiment_id)
    content = _content(progress)
    if previous is not None and content == previous.content:  # only steps moved: the progress line is new
        return LiveView(stamp, progress, previous.runs, previous.figure, previous.table, content)
    runs = store.experiment_runs(experiment_id, artifacts=False)
    figure = charts.live_curves(epochs_frame(runs), large=large, status=progress["status"])
    # The stamp read before the runs: a change in between shows at the next poll, never gets lost.
    return LiveView(stamp=stamp, progress=progress, runs=runs, figure=figure, table=runs_table(runs, planned),
                    content=content)
