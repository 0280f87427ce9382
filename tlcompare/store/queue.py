"""The worker's side of the store: claiming runs, heartbeats, epochs, results, recovery.

Every method that writes for a run takes (run_id, worker_id, attempt) and changes the run only
while that worker still owns that attempt; otherwise it raises LostRun and changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import tlcompare
from tlcompare.spec import RunSpec, spec_from_dict
from tlcompare.store.rows import (
    FINISHED,
    PENDING,
    TERMINAL,
    LostRun,
    finished_source,
    freeze_from_json,
    link,
    lr_ends_sql,
    refresh_status,
    split_extra,
)
from tlcompare.text.escape import printable
from tlcompare.text.variants import run_label
from tlcompare.worker.procs import HOST, worker_alive

if TYPE_CHECKING:
    import sqlite3

DEFAULT_STALE_AFTER = 15.0  # seconds without a heartbeat before a worker counts as dead
MAX_CRASHES = 3  # a run that has killed its worker this often (out of memory?) is failed, not retried

_OWNED = "id = ? AND worker_id = ? AND attempts = ? AND status = 'running'"


class QueueMixin:
    """Mixed into Store; relies on its _con, _read and _write."""

    # -- the queue -----------------------------------------------------------------------------
    def has_pending(self, experiment_id: int | None = None) -> bool:
        """Any run waiting for a worker (claimable now, or waiting for an identical run to finish)?"""
        sql, args = f"SELECT 1 FROM runs WHERE status IN {PENDING!r}", ()
        if experiment_id is not None:
            sql, args = sql + " AND experiment_id = ?", (experiment_id,)
        return self._con().execute(sql + " LIMIT 1", args).fetchone() is not None

    def may_queue_more(self, experiment_id: int | None = None) -> bool:
        """Could runs be queued without anyone asking? Yes while a run of an lr-ends experiment trains:
        its end may release the sizes between (store/ends.py). A worker told to stop once the queue is
        empty waits for that instead of leaving those runs to the others."""
        sql, args = ("SELECT 1 FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.status = 'running' "
                     f"AND {lr_ends_sql('e.spec')}"), ()
        if experiment_id is not None:
            sql, args = sql + " AND r.experiment_id = ?", (experiment_id,)
        return self._con().execute(sql + " LIMIT 1", args).fetchone() is not None

    def claim(self, worker_id: str, experiment_id: int | None = None) -> dict | None:
        """Atomically take the next queued (or interrupted) run; None when there is nothing to take.

        A run whose config finished meanwhile is linked to that result instead of being returned;
        one whose config is being trained right now by another run waits for it, so two
        experiments sharing a run never train it twice (unless forced).
        """
        if not self.has_pending(experiment_id):  # a plain read: idle workers don't take the write lock
            return None
        scope, args = ("AND r.experiment_id = ?", (experiment_id,)) if experiment_id is not None else ("", ())
        now = time.time()
        with self._write() as con:
            while True:
                row = con.execute(
                    f"SELECT r.* FROM runs r WHERE r.status IN {PENDING!r} {scope} "
                    "AND (r.force = 1 OR NOT EXISTS (SELECT 1 FROM runs o WHERE o.config_hash = r.config_hash "
                    "AND o.status = 'running')) ORDER BY r.experiment_id, r.position LIMIT 1", args).fetchone()
                if row is None:
                    return None
                damage = _spec_damage(con, row["experiment_id"])
                if damage:
                    # One hand-edited or damaged experiment must not stop the queue (nor leave a run
                    # "running" forever): its waiting runs fail with the reason, the others go on.
                    con.execute(
                        f"UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE experiment_id = ? "
                        f"AND status IN {PENDING!r}", (now, damage, row["experiment_id"]))
                    refresh_status(con, [row["experiment_id"]])
                    continue
                source = None if row["force"] else finished_source(con, row["config_hash"])
                if source is None:
                    break
                link(con, row["id"], source)
                refresh_status(con, [row["experiment_id"]])
            attempt = row["attempts"] + 1
            con.execute(
                "UPDATE runs SET status = 'running', worker_id = ?, heartbeat = ?, started_at = ?, finished_at = NULL, "
                "attempts = ?, step = 0, total_steps = NULL, error = NULL, traceback = NULL WHERE id = ?",
                (worker_id, now, now, attempt, row["id"]))
            con.execute("UPDATE workers SET state = 'running', run_id = ?, heartbeat = ? WHERE id = ?",
                        (row["id"], now, worker_id))
            refresh_status(con, [row["experiment_id"]])
            exp = con.execute(
                "SELECT spec, (SELECT COUNT(*) FROM runs WHERE experiment_id = e.id) AS n_runs "
                "FROM experiments e WHERE id = ?", (row["experiment_id"],)).fetchone()
        freeze = freeze_from_json(row["freeze"])
        spec = json.loads(exp["spec"])
        # A tuned run is one rate of its arm's grid: the stored rate is part of what it trains.
        grid_lr = row["lr"] if spec.get("tune", "none") != "none" else None
        run = RunSpec(spec_from_dict(spec), row["arm"], row["size"], row["seed"], freeze, grid_lr)
        return {
            "run_id": row["id"], "experiment_id": row["experiment_id"], "position": row["position"],
            "n_runs": exp["n_runs"], "arm": row["arm"], "size": row["size"], "seed": row["seed"],
            "freeze": freeze, "config_hash": row["config_hash"], "attempt": attempt,
            "spec": spec, "label": run.label(),
            # What the worker trains: the stored, typed values, never parsed or validated again.
            "run": run,
        }

    # -- while training ------------------------------------------------------------------------
    def run_started(self, run_id: int, worker_id: str, attempt: int, device: str, environment: dict | None = None) -> None:
        with self._write() as con:
            self._own(con, "device = ?, heartbeat = ?", (device, time.time()), run_id, worker_id, attempt)
            if environment is not None:
                # A copy from a reused run's experiment gives way to where this experiment trains now
                # (the reused runs keep their own machine and thread record).
                con.execute(
                    "UPDATE experiments SET environment = ? WHERE id = (SELECT experiment_id FROM runs WHERE id = ?) "
                    "AND (environment IS NULL OR json_extract(environment, '$.copied_from_experiment') IS NOT NULL)",
                    (json.dumps(environment), run_id))

    def add_epoch(self, run_id: int, worker_id: str, attempt: int, record: dict) -> None:
        """Commit one epoch's record as soon as it exists: the live curves read it."""
        now = time.time()
        with self._write() as con:
            self._own(con, "heartbeat = ?", (now,), run_id, worker_id, attempt)
            con.execute("INSERT OR REPLACE INTO epochs (run_id, attempt, epoch, metrics, written) VALUES (?, ?, ?, ?, ?)",
                        (run_id, attempt, record["epoch"], json.dumps(record), now))

    def run_control(self, run_id: int, worker_id: str, attempt: int) -> str:
        """'ok' to go on, 'cancel' when the user asked to stop, 'lost' when the run is no longer ours."""
        row = self._con().execute(
            "SELECT status, worker_id, attempts, cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or row["status"] != "running" or row["worker_id"] != worker_id or row["attempts"] != attempt:
            return "lost"
        return "cancel" if row["cancel_requested"] else "ok"

    # -- how a run ends ------------------------------------------------------------------------
    def finish_run(self, run_id: int, worker_id: str, attempt: int, result: dict) -> None:
        """Write a RunResult dict (done, diverged or cancelled): the run row, any epoch not yet
        written, and the artifacts, in one transaction."""
        now = time.time()
        status = result["status"]
        with self._write() as con:
            exp_id = self._own(
                con,
                "status = ?, finished_at = ?, heartbeat = ?, device = ?, trainable_params = ?, total_params = ?, "
                "n_train = ?, frozen_stages = ?, pretrained_source = ?, final = ?, error = ?, lr = ?, model = ?, extra = ?, "
                "version = ?, "
                "step = CASE WHEN ? THEN COALESCE(total_steps, step) ELSE step END",
                (status, now, now, result["device"], result["trainable_params"], result["total_params"],
                 result["n_train"], json.dumps(result["frozen_stages"]), result["pretrained_source"],
                 json.dumps(result["final"]) if result["final"] else None, result["error"], result["lr"],
                 result["model"], split_extra(result), tlcompare.__version__, status in FINISHED),
                run_id, worker_id, attempt)
            con.executemany(
                "INSERT OR IGNORE INTO epochs (run_id, attempt, epoch, metrics, written) VALUES (?, ?, ?, ?, ?)",
                [(run_id, attempt, r["epoch"], json.dumps(r), now) for r in result["epochs"]])
            if result.get("confusion"):
                con.execute(
                    "INSERT OR REPLACE INTO artifacts (run_id, confusion, per_class_acc, misclassified, checkpoint_path, "
                    "test_correct) VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, json.dumps(result["confusion"]), json.dumps(result["per_class_acc"]),
                     json.dumps(result["misclassified"]), result.get("checkpoint_path"), result.get("test_correct")))
            self._worker_idle(con, worker_id, now)
            refresh_status(con, [exp_id])

    def fail_run(self, run_id: int, worker_id: str, attempt: int, error: str, traceback: str | None = None) -> None:
        now = time.time()
        with self._write() as con:
            exp_id = self._own(con, "status = 'failed', finished_at = ?, heartbeat = ?, error = ?, traceback = ?",
                               (now, now, error, traceback), run_id, worker_id, attempt)
            self._worker_idle(con, worker_id, now)
            refresh_status(con, [exp_id])

    def interrupt_run(self, run_id: int, worker_id: str, attempt: int, reason: str) -> None:
        """Put the run back in the queue (its epochs so far are kept); a cancel asked for meanwhile wins."""
        now = time.time()
        with self._write() as con:
            exp_id = self._own(
                con, "status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'interrupted' END, "
                "finished_at = CASE WHEN cancel_requested THEN ? END, heartbeat = ?, error = ?",
                (now, now, reason), run_id, worker_id, attempt)
            self._worker_idle(con, worker_id, now)
            refresh_status(con, [exp_id])

    def _own(self, con: sqlite3.Connection, assignments: str, values: tuple, run_id: int, worker_id: str,
             attempt: int) -> int:
        """Update the run only if this worker still owns this attempt; return its experiment id."""
        if con.execute(f"UPDATE runs SET {assignments} WHERE {_OWNED}", (*values, run_id, worker_id, attempt)).rowcount == 0:
            raise LostRun(run_id)
        return con.execute("SELECT experiment_id FROM runs WHERE id = ?", (run_id,)).fetchone()[0]

    @staticmethod
    def _worker_idle(con: sqlite3.Connection, worker_id: str, now: float) -> None:
        con.execute("UPDATE workers SET state = 'idle', run_id = NULL, heartbeat = ? WHERE id = ? AND state = 'running'",
                    (now, worker_id))

    # -- recovery --------------------------------------------------------------------------------
    def recover_stale(self, stale_after: float = DEFAULT_STALE_AFTER) -> list[dict]:
        """Re-queue runs whose worker died (its pid is gone, or its heartbeat is older than
        ``stale_after``); their finished epochs stay, under their attempt number."""
        if not self._dead_runs(self._con(), stale_after):  # a plain read first: usually nothing to do
            return []
        recovered = []
        with self._write() as con:
            now = time.time()
            for row in self._dead_runs(con, stale_after):  # again under the lock: another worker may have won
                crashes = row["crashes"] + 1
                if row["cancel_requested"]:
                    status, error = "cancelled", None
                elif crashes >= MAX_CRASHES:
                    status = "failed"
                    error = (f"the worker training this run died {crashes} times (out of memory?); "
                             "see the worker logs in TLCOMPARE_HOME/logs")
                else:
                    status = "interrupted"
                    error = f"worker {row['worker_id']} died during attempt {row['attempts']}; re-queued"
                con.execute(
                    "UPDATE runs SET status = ?, crashes = ?, error = ?, finished_at = ? WHERE id = ? AND status = 'running'",
                    (status, crashes, error, now if status in TERMINAL else None, row["id"]))
                con.execute("UPDATE workers SET state = 'dead', run_id = NULL WHERE id = ? AND state != 'exited'",
                            (row["worker_id"],))
                refresh_status(con, [row["experiment_id"]])
                recovered.append({"run_id": row["id"], "status": status, "worker_id": row["worker_id"]})
        return recovered

    @staticmethod
    def _dead_runs(con: sqlite3.Connection, stale_after: float) -> list:
        rows = con.execute(
            "SELECT r.id, r.experiment_id, r.heartbeat, r.started_at, r.cancel_requested, r.crashes, r.attempts, "
            "r.worker_id, w.pid, w.host, w.state FROM runs r LEFT JOIN workers w ON w.id = r.worker_id "
            "WHERE r.status = 'running'").fetchall()
        now = time.time()
        dead = []
        for r in rows:
            beat = r["heartbeat"] or r["started_at"] or 0.0
            if not worker_alive({"state": r["state"], "host": r["host"], "pid": r["pid"], "heartbeat": beat,
                                 "started_at": beat}, now, stale_after):
                dead.append(r)
        return dead

    # -- workers -------------------------------------------------------------------------------
    def register_worker(self, worker_id: str, device: str | None = None, slot: str | None = None,
                        experiment_id: int | None = None) -> None:
        now = time.time()
        with self._write() as con:
            con.execute(
                "INSERT INTO workers (id, slot, experiment_id, pid, host, device, state, started_at, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?, 'idle', ?, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, "
                "host = excluded.host, device = excluded.device, state = 'idle', heartbeat = excluded.heartbeat, "
                "slot = COALESCE(excluded.slot, workers.slot), experiment_id = excluded.experiment_id",
                (worker_id, slot, experiment_id, os.getpid(), HOST, device, now, now))
            # Keep a week of history for `tlcompare workers`; older rows of gone workers are noise.
            con.execute("DELETE FROM workers WHERE state IN ('exited', 'dead') AND COALESCE(heartbeat, started_at) < ?",
                        (now - 7 * 86400,))

    def reserve_worker_slot(self, slot: str, device: str | None, worker_id: str,
                            stale_after: float = DEFAULT_STALE_AFTER) -> dict | None:
        """Return a live worker serving ``slot``, or record ``worker_id`` as starting there and return None.

        A worker the user started by hand (no slot) on the same device serves every slot of that
        device. One transaction, so two callers at once (two browser tabs) start one worker, not two.
        """
        now = time.time()
        with self._write() as con:
            rows = con.execute(
                "SELECT * FROM workers WHERE state NOT IN ('exited', 'dead') AND (slot = ? OR "
                "(slot IS NULL AND experiment_id IS NULL AND device IS ?))", (slot, device)).fetchall()
            for row in rows:
                if worker_alive(dict(row), now, stale_after):
                    return dict(row)
                con.execute("UPDATE workers SET state = 'dead' WHERE id = ?", (row["id"],))
            con.execute("INSERT INTO workers (id, slot, host, state, started_at) VALUES (?, ?, ?, 'starting', ?)",
                        (worker_id, slot, HOST, now))
        return None

    def set_worker_process(self, worker_id: str, pid: int | None, log_path: str | None, failed: bool = False) -> None:
        with self._write() as con:
            con.execute("UPDATE workers SET pid = COALESCE(?, pid), log_path = ?, state = CASE WHEN ? THEN 'dead' "
                        "ELSE state END WHERE id = ?", (pid, log_path, failed, worker_id))

    def worker_heartbeat(self, worker_id: str, run_id: int | None = None, attempt: int | None = None,
                         step: int | None = None, total_steps: int | None = None) -> bool:
        """Record that the worker lives (and how far its run is); return True if asked to stop."""
        now = time.time()
        with self._write() as con:
            con.execute("UPDATE workers SET heartbeat = ?, state = ?, run_id = ? WHERE id = ?",
                        (now, "running" if run_id else "idle", run_id, worker_id))
            if run_id is not None:
                con.execute(f"UPDATE runs SET heartbeat = ?, step = COALESCE(?, step), "
                            f"total_steps = COALESCE(?, total_steps) WHERE {_OWNED}",
                            (now, step, total_steps, run_id, worker_id, attempt))
            row = con.execute("SELECT stop_requested FROM workers WHERE id = ?", (worker_id,)).fetchone()
        return bool(row and row[0])

    def worker_exited(self, worker_id: str) -> None:
        with self._write() as con:
            con.execute("UPDATE workers SET state = 'exited', run_id = NULL, heartbeat = ? WHERE id = ?",
                        (time.time(), worker_id))

    def request_worker_stop(self, worker_id: str | None = None) -> int:
        """Ask one worker (default: every live one) to stop; its current run goes back to the queue."""
        sql, args = "UPDATE workers SET stop_requested = 1 WHERE state NOT IN ('exited', 'dead')", ()
        if worker_id is not None:
            sql, args = sql + " AND id = ?", (worker_id,)
        with self._write() as con:
            return con.execute(sql, args).rowcount

    def list_workers(self, stale_after: float = DEFAULT_STALE_AFTER) -> list[dict]:
        """Every worker seen this week, newest first, with ``alive`` judged now."""
        now = time.time()
        with self._read() as con:
            rows = con.execute(
                "SELECT w.*, r.arm, r.size, r.seed, r.freeze, r.experiment_id AS run_experiment_id FROM workers w "
                "LEFT JOIN runs r ON r.id = w.run_id ORDER BY w.started_at DESC").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["alive"] = worker_alive(d, now, stale_after)
            d["run_label"] = run_label(r["arm"], r["size"], r["seed"], freeze_from_json(r["freeze"])) if r["arm"] else None
            for key in ("arm", "size", "seed", "freeze"):
                d.pop(key)
            out.append(d)
        return out


def _spec_damage(con, experiment_id: int) -> str | None:
    """Why experiment ``experiment_id``'s stored spec cannot be trained (None when it can)."""
    text = con.execute("SELECT spec FROM experiments WHERE id = ?", (experiment_id,)).fetchone()[0]
    try:
        spec = json.loads(text)
        if not isinstance(spec, dict):
            raise TypeError("not an object")
        spec_from_dict(spec)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        return (f"experiment {experiment_id}'s stored spec is damaged ({type(e).__name__}: {printable(str(e), 80)}): "
                "delete the experiment and submit it again")
    return None
