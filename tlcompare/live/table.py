"""The rows a progress view shows: one per run, from the store's run dicts and progress record."""

from __future__ import annotations

import pandas as pd

from tlcompare.analysis.frames import variant
from tlcompare.text.escape import printable
from tlcompare.text.summaries import duration

# Plain words: emoji depend on the viewer's fonts and turn into boxes on a bare Linux browser.
STATUS_TEXT = {"interrupted": "re-queued"}


def runs_table(runs: list[dict], epochs: int | str) -> pd.DataFrame:
    """One row per run in queue order: what it is, how far it got and how well it is doing."""
    rows = []
    for r in runs:
        final = r.get("final") or {}
        last = r["epochs"][-1] if r.get("epochs") else {}
        note = printable(r.get("error") or "", None)  # a table cell: one line, no control or bidi characters
        if r.get("reused_from"):
            note = f"reused from run {r['reused_from']}"
        elif r.get("cancel_requested") and r["status"] == "running":
            note = "stopping…"
        rows.append({
            "run": r.get("run_id"),
            "arm": variant(r["arm"], r.get("freeze")),
            "size": r["size"],
            "seed": r["seed"],
            "depth": "" if r.get("freeze") is None else str(r["freeze"]),
            "epoch": _done_of(r, str(epochs)),
            "status": STATUS_TEXT.get(r["status"], r["status"]),
            "progress": float(r.get("progress") or 0.0),
            "val_acc": _percent(last.get("val_acc")),
            "test_acc": _percent(final.get("test_acc")),
            "seconds": final.get("train_seconds", last.get("elapsed_train_seconds")),
            "note": note,
        })
    return pd.DataFrame(rows)


def _done_of(r: dict, planned: str) -> str:
    """'3/20' epochs; under the steps budget ('30 steps' planned) the steps done, not the epochs: '30/30 steps',
    where epochs over steps ('10/30 steps') read as a third of the way."""
    if planned.endswith(" steps"):
        return f"{r.get('steps_done') or r.get('step') or 0}/{planned}"
    return f"{len(r.get('epochs') or [])}/{planned}"


def _percent(x: float | None) -> float | None:
    return None if x is None else 100 * x


def wall_seconds(runs: list[dict]) -> float | None:
    """From the first run's start to the last one's end: how long a finished experiment took."""
    trained = [r for r in runs if r.get("started_at") and r.get("finished_at") and not r.get("reused_from")]
    if not trained:
        return None
    return max(r["finished_at"] for r in trained) - min(r["started_at"] for r in trained)


STOPPED = ("cancelled", "cancelling")


def with_result(progress: dict) -> int:
    """Runs that finished with a result (done or diverged): not the cancelled or failed ones."""
    counts = progress.get("counts") or {}
    return counts.get("done", 0) + counts.get("diverged", 0)


def bar_fraction(progress: dict) -> float:
    """How full the progress bar is. A cancelled experiment fills only as far as its runs with a
    result: a full bar would say it finished."""
    if progress["status"] in STOPPED:
        return with_result(progress) / progress["total"] if progress["total"] else 0.0
    return min(1.0, progress["fraction"])


def progress_line(progress: dict, runs: list[dict] | None = None) -> str:
    """'7 of 12 runs finished · 2 min elapsed · about 1 min left'; 'cancelled: 1 of 2 runs finished · 1 cancelled'."""
    counts = progress.get("counts") or {}
    stopped = progress["status"] in STOPPED
    if stopped:
        parts = [f"{progress['status']}: {with_result(progress)} of {progress['total']} runs finished"]
        parts += [f"{counts[s]} {s}" for s in ("failed", "cancelled") if counts.get(s)]
    else:
        parts = [f"{progress['finished']} of {progress['total']} runs finished"]
    if progress.get("held") and progress["status"] not in ("done", "failed"):
        parts.append(f"{progress['held']} wait for the learning rates the smallest and largest size choose")
    active = progress["status"] in ("running", "queued", "cancelling")
    took = None if active or runs is None else wall_seconds(runs)
    if took is not None:
        parts.append(f"took {duration(took)}")
    elif active and progress.get("elapsed_seconds"):
        parts.append(f"{duration(progress['elapsed_seconds'])} elapsed")
    if active and not stopped:
        eta = progress.get("eta_seconds")
        if eta is None:
            parts.append("estimating time left…")
        else:  # "about 0 s left" while a run still trains reads as a hang
            parts.append("almost done" if eta < 5 else f"about {duration(eta)} left")
    return " · ".join(parts)


def training_line(r: dict) -> str:
    """'epoch 1 of 2, step 3 of 8' for a running run (``Store.experiment_progress``): the epoch in
    progress, counted from 1; the store counts the epochs already ended."""
    planned = str(r["epochs"])
    current = r["epoch"] + 1
    if planned.isdigit():  # past the last epoch the run is being tested: still that epoch
        current = min(current, int(planned))
    return f"epoch {current} of {planned}" + (f", step {r['step']} of {r['total_steps']}" if r["total_steps"] else "")


def cancel_toast(n_cancelled: int, training: int) -> str:
    """What the Cancel button did, in one line: only a run in training has something to stop."""
    runs = f"{n_cancelled} run{'s' if n_cancelled != 1 else ''}"
    if training:
        return f"Cancelling {runs}: the one training stops within seconds."
    return f"Cancelled {runs}: none had started training."


def cancelled_note(runs: list[dict]) -> str:
    """What a cancelled experiment has, in one line: 'Cancelled: 1 of 2 runs finished; ...'."""
    done = sum(1 for r in runs if r["status"] in ("done", "diverged"))
    cancelled = sum(1 for r in runs if r["status"] == "cancelled")
    kept = "their results are kept and shown" if done else "no run finished before the cancel"
    return (f"Cancelled: {done} of {len(runs)} runs finished; {kept}. Resume queues the {cancelled} cancelled "
            f"run{'s' if cancelled != 1 else ''} again and keeps the finished ones.")
