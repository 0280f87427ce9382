"""What Live says about a run in progress, a cancel and the time left, in words a user reads right."""

from __future__ import annotations

import pandas as pd

from tlcompare.charts import figures as charts
from tlcompare.live.table import cancel_toast, progress_line, training_line


def running(epoch: int, epochs: str, step: int = 3, total_steps: int | None = 8) -> dict:
    return {"epoch": epoch, "epochs": epochs, "step": step, "total_steps": total_steps}


def test_the_epoch_in_progress_counts_from_one_and_never_passes_the_plan():
    assert training_line(running(0, "2")) == "epoch 1 of 2, step 3 of 8"  # the first epoch, not "epoch 0"
    assert training_line(running(1, "2", total_steps=None)) == "epoch 2 of 2"
    assert training_line(running(2, "2")) == "epoch 2 of 2, step 3 of 8"  # ended, being tested
    assert training_line(running(4, "at most 300")) == "epoch 5 of at most 300, step 3 of 8"


def test_a_run_past_its_estimate_is_almost_done_not_zero_seconds_left():
    base = {"status": "running", "total": 4, "finished": 3, "counts": {"done": 3, "running": 1}, "elapsed_seconds": 90}
    assert progress_line({**base, "eta_seconds": 0.3}).endswith("almost done")
    assert progress_line({**base, "eta_seconds": 130}).endswith("about 2 min left")
    assert progress_line({**base, "eta_seconds": None}).endswith("estimating time left…")


def test_cancel_says_whether_anything_was_training():
    assert cancel_toast(4, 1) == "Cancelling 4 runs: the one training stops within seconds."
    assert cancel_toast(1, 0) == "Cancelled 1 run: none had started training."


def test_the_live_chart_stops_waiting_once_the_experiment_is_cancelled():
    def note(fig) -> str:
        return " ".join(a.text for a in fig.layout.annotations)

    empty = pd.DataFrame()
    assert "Waiting for the first epoch" in note(charts.live_curves(empty))
    assert note(charts.live_curves(empty, status="cancelled")) == "Cancelled before any epoch ended"
    assert "error" in note(charts.live_curves(empty, status="failed"))


def test_the_steps_budget_counts_steps_in_the_live_table_not_epochs():
    from tlcompare.live.table import runs_table

    base = {"arm": "scratch", "size": 3, "seed": 0, "freeze": None, "final": {}, "progress": 1.0}
    done = {**base, "status": "done", "epochs": [{"epoch": e, "val_acc": 0.1} for e in range(1, 11)],
            "steps_done": 30, "step": 30}
    running = {**base, "status": "running", "epochs": [{"epoch": 1, "val_acc": 0.1}], "step": 4, "progress": 0.13}
    queued = {**base, "status": "queued", "epochs": [], "step": 0, "progress": 0.0}
    assert list(runs_table([done, running, queued], "30 steps")["epoch"]) == ["30/30 steps", "4/30 steps", "0/30 steps"]
    assert list(runs_table([done], "20")["epoch"]) == ["10/20"]
