"""Rows in and out of the store: statuses, row -> dict conversion, queueing and linking runs.

Plain functions over an open connection, shared by the dashboard side (``store``) and the
worker side (``store_queue``) so both write runs and experiment statuses the same way.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

import tlcompare
from tlcompare.errors import UserError
from tlcompare.text.variants import run_label

if TYPE_CHECKING:
    from tlcompare.spec import RunSpec

FINISHED = ("done", "diverged")  # a result that can be reused by an identical run
TERMINAL = ("done", "diverged", "failed", "cancelled")
PENDING = ("queued", "interrupted")  # waiting for a worker

EXPERIMENT_STATUSES = ("queued", "running", "cancelling", "done", "failed", "cancelled")

# The RunResult.to_dict() keys the store has columns for. A finished run read from the store has
# every RunResult key, in RunResult's order (fields without a column travel in ``extra``), plus
# the store's own fields, so analysis code cannot tell it from `tlcompare run`'s JSON.
RESULT_KEYS = (
    "arm", "size", "seed", "freeze", "model", "config_hash", "status", "device", "trainable_params",
    "total_params", "frozen_stages", "pretrained_source", "lr", "n_train", "epochs", "final",
    "confusion", "per_class_acc", "misclassified", "error",
)
_NOT_RESULT = ("checkpoint_path",)  # written with a result, but not a RunResult field
# RunResult fields kept in the artifacts row, read only when asked for (Store.experiment_runs).
ARTIFACT_KEYS = ("test_correct",)


def split_extra(result: dict) -> str:
    """The ``extra`` column for a RunResult dict: the fields without a column, and the key order."""
    order = [k for k in result if k not in _NOT_RESULT]
    values = {k: result[k] for k in order if k not in RESULT_KEYS and k not in ARTIFACT_KEYS}
    return json.dumps({"order": order, "values": values})


def result_keys(run: dict) -> list[str]:
    """The RunResult keys of a run dict from run_dict(), in RunResult's order when it is known."""
    return run.get("result_keys") or list(RESULT_KEYS)


class LostRun(Exception):
    """This worker no longer owns the run: it was deleted, or recovered and claimed again elsewhere."""


def lr_ends_sql(spec_column: str = "spec") -> str:
    """SQL true for an experiment of tune = "lr-ends" (store/ends.py), told by its spec's text: a cheap
    look before the spec is parsed."""
    return f"instr({spec_column}, '\"lr-ends\"') > 0"


def freeze_to_json(freeze: int | str | None) -> str | None:
    """The depth as stored (schema v4): JSON, so 3 and "all" come back as they went in."""
    return None if freeze is None else json.dumps(freeze)


def freeze_from_json(stored: str | None) -> int | str | None:
    return None if stored is None else json.loads(stored)


def epochs_planned(spec: dict) -> str:
    """How many epochs a run of this spec trains, for "epoch 3 of ..." while it runs."""
    budget = spec.get("budget") or "epochs"
    if budget == "converged":
        return f"at most {spec.get('max_epochs')}"
    if budget == "steps":
        return f"{spec.get('steps')} steps"
    return str(spec.get("epochs"))


def _loads(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


def run_dict(row: sqlite3.Row, epochs: list[dict], artifacts: sqlite3.Row | None) -> dict:
    """The run as a record (see ``_run_dict``); a hand-edited or damaged row comes back as a failed
    run that names its damage, so one bad row never takes down the experiment's other runs."""
    try:
        d = _run_dict(row, epochs, artifacts)
        problem = _damage(d)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        d, problem = None, f"{type(e).__name__}"
    if problem is None:
        return d
    return {
        "arm": row["arm"], "size": row["size"] if isinstance(row["size"], int) else None, "seed": row["seed"],
        "freeze": None, "model": row["model"], "config_hash": row["config_hash"], "status": "failed",
        "device": None, "trainable_params": None, "total_params": None, "frozen_stages": [], "pretrained_source": None,
        "lr": None, "n_train": None, "epochs": [], "final": {}, "confusion": [], "per_class_acc": [], "misclassified": [],
        "error": f"run {row['id']}'s stored row is damaged ({problem}): it is left out; delete the experiment and run it again",
        "run_id": row["id"], "experiment_id": row["experiment_id"], "position": row["position"],
        "label": f"run {row['id']} (damaged)", "config": {}, "attempts": row["attempts"], "crashes": row["crashes"],
        "worker_id": None, "heartbeat": None, "queued_at": row["queued_at"], "started_at": None, "finished_at": None,
        "step": 0, "total_steps": None, "progress": 0.0, "reused_from": None, "cancel_requested": False,
        "traceback": None, "checkpoint_path": None, "damaged": True,
    }


def _damage(d: dict) -> str | None:
    """What in a run record no analysis can read (None when it is sound)."""
    import math

    if not isinstance(d["size"], int) or isinstance(d["size"], bool) or d["size"] < 1:
        return "size is not a whole number from 1 up"
    if not isinstance(d["final"], dict) or not isinstance(d["epochs"], list) or not all(isinstance(e, dict) for e in d["epochs"]):
        return "its results are not JSON objects"
    for key, value in d["final"].items():
        if key.endswith("_acc") and value is not None and not (isinstance(value, int | float) and math.isfinite(value)
                                                               and 0 <= value <= 1):
            return f"{key} is not an accuracy"
    confusion = d["confusion"]
    if not isinstance(confusion, list) or any(not isinstance(r, list) or len(r) != len(confusion) for r in confusion):
        return "its confusion matrix is not square"
    return None


def _run_dict(row: sqlite3.Row, epochs: list[dict], artifacts: sqlite3.Row | None) -> dict:
    freeze = freeze_from_json(row["freeze"])
    status = row["status"]
    if status in FINISHED:
        progress = 1.0
    elif row["total_steps"]:
        progress = min(1.0, row["step"] / row["total_steps"])
    else:
        progress = 0.0
    d = {
        "arm": row["arm"], "size": row["size"], "seed": row["seed"], "freeze": freeze, "model": row["model"],
        "config_hash": row["config_hash"], "status": status, "device": row["device"],
        "trainable_params": row["trainable_params"], "total_params": row["total_params"],
        "frozen_stages": _loads(row["frozen_stages"], []), "pretrained_source": row["pretrained_source"],
        "lr": row["lr"], "n_train": row["n_train"], "epochs": epochs, "final": _loads(row["final"], {}),
        "confusion": _loads(artifacts["confusion"], []) if artifacts else [],
        "per_class_acc": _loads(artifacts["per_class_acc"], []) if artifacts else [],
        "misclassified": _loads(artifacts["misclassified"], []) if artifacts else [],
        "error": row["error"],
        # store fields
        "run_id": row["id"], "experiment_id": row["experiment_id"], "position": row["position"],
        "label": run_label(row["arm"], row["size"], row["seed"], freeze), "config": json.loads(row["config"]),
        "attempts": row["attempts"], "crashes": row["crashes"], "worker_id": row["worker_id"],
        "heartbeat": row["heartbeat"], "queued_at": row["queued_at"], "started_at": row["started_at"],
        "finished_at": row["finished_at"], "step": row["step"], "total_steps": row["total_steps"],
        "progress": progress, "reused_from": row["reused_from"], "cancel_requested": bool(row["cancel_requested"]),
        "traceback": row["traceback"], "checkpoint_path": artifacts["checkpoint_path"] if artifacts else None,
    }
    if artifacts is not None and "test_correct" in artifacts.keys():  # noqa: SIM118 (on a Row, `in` checks values)
        d["test_correct"] = artifacts["test_correct"]
    extra = _loads(row["extra"], None)
    if extra is None:
        return d
    d.update(extra["values"])
    order = extra["order"]
    return {**{k: d[k] for k in order if k in d}, **{k: v for k, v in d.items() if k not in order}, "result_keys": order}


def experiment_dict(row: sqlite3.Row, counts: dict[str, int]) -> dict:
    # A hand-edited or damaged row is named, not fatal: every other experiment still lists.
    damaged = None
    try:
        spec = json.loads(row["spec"])
        if not isinstance(spec, dict):
            raise ValueError("not a JSON object")
    except (ValueError, TypeError) as e:
        spec, damaged = {}, f"experiment {row['id']}'s stored spec is damaged ({type(e).__name__}); delete it"
    try:
        environment = _loads(row["environment"], None)
        if environment is not None and not isinstance(environment, dict):
            raise ValueError("not a JSON object")
    except (ValueError, TypeError) as e:  # only where it ran: the results still read
        environment = None
        environment_damage = f"experiment {row['id']}'s stored environment is damaged ({type(e).__name__}): left out"
    else:
        environment_damage = None
    return {"damaged": damaged, "environment_damage": environment_damage,
        "id": row["id"], "name": row["name"], "status": row["status"], "created": row["created"],
        "notes": row["notes"], "pinned": bool(row["pinned"]), "spec": spec,
        "dataset": spec.get("dataset"), "model": spec.get("model"),
        "environment": environment,
        "n_runs": sum(counts.values()), "n_finished": sum(counts.get(s, 0) for s in TERMINAL),
        # What people read as "runs finished": with a result, so a cancelled experiment never reads 3/3.
        "n_done": sum(counts.get(s, 0) for s in FINISHED),
        "counts": dict(counts), "changed": row["changed"],
        # The stored headline only while it is still true (computed at this change stamp).
        "headline": row["headline"] if row["headline_stamp"] == row["changed"] else None,
    }


def require_experiment(con: sqlite3.Connection, experiment_id: int) -> None:
    if con.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone() is None:
        raise UserError(f"no experiment {experiment_id} (see `tlcompare ls`)")


def run_rows(experiment_id: int, runs: list[tuple[int, RunSpec]], force: bool, now: float) -> list[tuple]:
    """The rows ``add_runs`` inserts, made outside any transaction (hashing 10,000 configs takes a while)."""
    return [(experiment_id, position, run.arm, run.size, run.seed, freeze_to_json(run.freeze), run.model, run.lr,
             json.dumps(run.config(), sort_keys=True), run.config_hash(), int(force), now) for position, run in runs]


def add_runs(con: sqlite3.Connection, rows: list[tuple]) -> None:
    for row in rows:
        run_id = con.execute(
            "INSERT INTO runs (experiment_id, position, arm, size, seed, freeze, model, lr, config, config_hash, "
            "force, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid
        force, config_hash = row[10], row[9]
        if not force:
            source = finished_source(con, config_hash)
            if source is not None:
                link(con, run_id, source)


def finished_source(con: sqlite3.Connection, config_hash: str) -> sqlite3.Row | None:
    """The finished run with this config to copy from: an original training before a copy of one.

    Only results of this tlcompare version count: a fix to the training loop changes results
    without changing any config, and must not be hidden behind an old answer.
    """
    return con.execute(
        f"SELECT id, attempts, experiment_id, reused_from FROM runs WHERE config_hash = ? AND status IN {FINISHED!r} "
        "AND version = ? ORDER BY reused_from IS NOT NULL, finished_at DESC LIMIT 1",
        (config_hash, tlcompare.__version__)).fetchone()


_COPIED = ("status, device, worker_id, started_at, finished_at, step, total_steps, trainable_params, total_params, "
           "n_train, frozen_stages, pretrained_source, final, extra, version, error")


def link(con: sqlite3.Connection, run_id: int, source: sqlite3.Row) -> None:
    """Give ``run_id`` the results of a finished identical run.

    The results are copied, not referenced, so deleting either experiment never breaks the
    other; a run is a few kilobytes. Copied epochs are attempt 0: this run was never trained.
    """
    src = source["id"]
    con.execute(
        f"UPDATE runs SET ({_COPIED}) = (SELECT {_COPIED} FROM runs WHERE id = :src), "
        "reused_from = :origin, attempts = 0 WHERE id = :dst",
        {"src": src, "dst": run_id, "origin": source["reused_from"] or src})
    con.execute(
        "INSERT INTO epochs (run_id, attempt, epoch, metrics, written) "
        "SELECT ?, 0, epoch, metrics, written FROM epochs WHERE run_id = ? AND attempt = ?",
        (run_id, src, source["attempts"]))
    con.execute(
        "INSERT INTO artifacts (run_id, confusion, per_class_acc, misclassified, checkpoint_path, test_correct) "
        "SELECT ?, confusion, per_class_acc, misclassified, checkpoint_path, test_correct FROM artifacts WHERE run_id = ?",
        (run_id, src))
    # The data's part of the environment (class names, split sizes) is the same for an identical
    # config; its device and threads are the source's, marked as a copy until a run trains here.
    con.execute(
        "UPDATE experiments SET environment = (SELECT json_set(environment, '$.copied_from_experiment', ?) "
        "FROM experiments WHERE id = ?) "
        "WHERE id = (SELECT experiment_id FROM runs WHERE id = ?) AND environment IS NULL",
        (source["experiment_id"], source["experiment_id"], run_id))


def experiment_status(counts: dict[str, int], cancelling: int) -> str:
    running = counts.get("running", 0)
    pending = sum(counts.get(s, 0) for s in PENDING)
    if running and running == cancelling and not pending:
        return "cancelling"
    if running:
        return "running"
    if pending:
        return "queued"
    if counts.get("failed"):
        return "failed"
    if counts.get("cancelled"):
        return "cancelled"
    return "done"


def refresh_status(con: sqlite3.Connection, experiment_ids) -> None:
    """Recompute experiments.status from its runs, inside the transaction that changed them."""
    for exp_id in set(experiment_ids):
        # tune = "lr-ends": the sizes between the two tuned ones are queued once the ends have ended.
        if con.execute(f"SELECT 1 FROM experiments WHERE id = ? AND {lr_ends_sql()}", (exp_id,)).fetchone():
            from tlcompare.store.ends import release_held

            release_held(con, exp_id)
        counts = {r[0]: r[1] for r in con.execute(
            "SELECT status, COUNT(*) FROM runs WHERE experiment_id = ? GROUP BY status", (exp_id,))}
        cancelling = con.execute(
            "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND status = 'running' AND cancel_requested = 1",
            (exp_id,)).fetchone()[0]
        con.execute("UPDATE experiments SET status = ? WHERE id = ?", (experiment_status(counts, cancelling), exp_id))
