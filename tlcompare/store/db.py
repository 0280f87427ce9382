"""The experiment store: one SQLite file shared by the dashboard, the CLI and every worker.

Why a result is never lost or torn:
- WAL mode: readers work on a snapshot and never wait for the writer; the writer never waits for them.
- Every write is a short ``BEGIN IMMEDIATE`` transaction, so writers queue on the lock (busy_timeout)
  instead of failing half-way, and two claims cannot interleave.
- Each epoch is committed as it finishes; a run's final row and its artifacts are one transaction,
  and every read of several tables is one read transaction, so no reader sees a run half-written.
- Each write a worker makes for a run checks it still owns the run (worker id and attempt), so a
  worker presumed dead that comes back cannot overwrite what its successor wrote.

This module holds the connection and what the dashboard calls (experiments, runs, progress);
``store_queue`` adds what workers call (claim, heartbeat, epochs, results, recovery).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tlcompare
from tlcompare.errors import UserError
from tlcompare.home import home
from tlcompare.store.errors import StoreError, damaged_message, readonly_message, store_errors
from tlcompare.store.errors import cannot_write as _cannot_write
from tlcompare.store.queue import QueueMixin
from tlcompare.store.rows import (
    FINISHED,
    PENDING,
    TERMINAL,
    LostRun,
    add_runs,
    epochs_planned,
    experiment_dict,
    freeze_from_json,
    refresh_status,
    require_experiment,
    result_keys,
    run_dict,
    run_rows,
)
from tlcompare.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from tlcompare.text.escape import printable
from tlcompare.text.variants import run_label

if TYPE_CHECKING:
    from tlcompare.spec import ExperimentSpec

__all__ = ["LostRun", "Store", "StoreError", "default_path"]

QUEUE_BATCH = 200  # runs inserted per write transaction (see docs/benchmarks.md for its cost)


def default_path() -> Path:
    return home() / "tlcompare.db"


class Store(QueueMixin):
    """One SQLite file; each thread (and each forked process) gets its own connection.

    A store that cannot be written (a read-only folder or file) opens read-only: listing, showing
    and reporting work, and every write says why it cannot happen. Before its first write a store
    checks the file (``PRAGMA quick_check``): writing into a damaged file can spread the damage.
    """

    def __init__(self, path: str | Path | None = None, busy_timeout: float = 30.0, read_only: bool = False,
                 verify: bool = True):
        """``read_only``: for commands that only read (``ls``, ``show``, reports, ``store check``):
        the file is opened read-only and never created, migrated or switched to WAL; a store of an
        older schema is migrated only once it passes ``quick_check`` (``verify=False``: opened as it
        is, for ``store check`` to describe the damage)."""
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.busy_timeout = busy_timeout
        self.readonly = False
        self._has_analyses: bool | None = None  # False: a read-only store of a schema before kept analyses
        self._checked = False
        self._pid = os.getpid()
        self._local = threading.local()
        if self.path.is_dir():
            raise StoreError(f"the store '{printable(str(self.path))}' is a folder, not a file; move it aside "
                             "or set TLCOMPARE_HOME to another folder")
        if read_only and not self.path.exists():
            raise StoreError(f"there is no store at '{printable(str(self.path))}' (nothing was created); "
                             "check the path, or set TLCOMPARE_HOME to the folder that holds tlcompare.db")
        version = None
        if self.path.exists() and self.path.stat().st_size > 0:
            # Looked at read-only first: a damaged file, another program's database and a header
            # tlcompare never wrote are refused as they are, before any migration or WAL switch.
            with store_errors(self.path):
                con = self._connect_readonly()
                try:
                    version = con.execute("PRAGMA user_version").fetchone()[0]
                    if verify:
                        self._require_tlcompare(con, version)
                finally:
                    con.close()
        if read_only and (version == SCHEMA_VERSION or not verify):
            self.readonly = True
            return
        # A new file, or an older schema of ours that passed quick_check: migrate it.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder of the store '{printable(str(self.path.parent))}': "
                             f"{e.strerror or e}; set TLCOMPARE_HOME to a writable folder") from None
        with store_errors(self.path):
            try:
                migrate(self._con())
            except sqlite3.OperationalError as e:
                if not (self.path.is_file() and _cannot_write(e)):
                    raise
                self._open_readonly()
        if read_only:
            self.close()
            self.readonly = True

    def _open_readonly(self) -> None:
        self.close()
        self.readonly = True
        version = self._con().execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreError(f"the store '{printable(str(self.path))}' is read-only and has schema version {version}, "
                             f"not {SCHEMA_VERSION}: open it once where it can be written, or use the matching tlcompare")

    def require_tlcompare(self) -> None:
        """A StoreError unless the file holds tlcompare's tables at a version this code wrote."""
        with store_errors(self.path):
            con = self._con()
            self._require_tlcompare(con, con.execute("PRAGMA user_version").fetchone()[0])

    def _require_tlcompare(self, con: sqlite3.Connection, version: int) -> None:
        """A store file at an older version this code wrote, and sound; else a StoreError, file untouched."""
        shown = printable(str(self.path))
        if version > SCHEMA_VERSION:
            raise StoreError(f"the store '{shown}' has schema version {version}, newer than this tlcompare understands "
                             f"({SCHEMA_VERSION}); upgrade tlcompare")
        if version < 0:
            raise StoreError(damaged_message(self.path, f"its header says schema version {version}, which tlcompare never writes"))
        tables = {r[0]: {c[1] for c in con.execute(f"PRAGMA table_info({_quoted(r[0])})")}
                  for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and not tables:
            return  # a new, empty file: the migration creates the tables
        expected = expected_tables(version) if version else {}
        if not expected or any(tables.get(name) != columns for name, columns in expected.items()):
            others = ", ".join(sorted(printable(t, 40) for t in tables)[:6]) or "none"
            raise StoreError(f"'{shown}' is an SQLite file but not a tlcompare store of schema {version} (its tables: "
                             f"{others}); it was left untouched: give another file, or set TLCOMPARE_HOME to another folder")
        if version == SCHEMA_VERSION:
            return  # the store's own: checked before its first write (_check_before_writing)
        found = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
        if found != ["ok"]:
            raise StoreError(damaged_message(self.path, "; ".join(found)))

    # -- connections and transactions ----------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # a forked child must never use its parent's SQLite handle
            self._pid, self._local = os.getpid(), threading.local()
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect_readonly() if self.readonly else self._connect()
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        con.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses nothing when a process is killed; only a power cut can drop
        # the last commits (never corrupt the file), and commits stay cheap enough for per-epoch rows.
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        try:
            con = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=self.busy_timeout, isolation_level=None)
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.OperationalError:
            # A WAL file in a read-only folder cannot get its shared-memory index: read the file as
            # it is, which is safe because nobody can write to it either.
            return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise StoreError(readonly_message(self.path))
        with store_errors(self.path):
            con = self._con()
            if not self._checked:
                self._check_before_writing(con)
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                if con.in_transaction:  # SQLite has already rolled back after a full disk
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _check_before_writing(self, con: sqlite3.Connection) -> None:
        found = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
        if found != ["ok"]:
            raise StoreError(damaged_message(self.path, "; ".join(found)))
        self._checked = True

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with store_errors(self.path):
            con = self._con()
            con.execute("BEGIN")  # one snapshot for every SELECT inside
            try:
                yield con
            finally:
                con.execute("COMMIT")

    def integrity_check(self) -> str:
        """'ok' for a sound file; otherwise SQLite's description of the damage."""
        with store_errors(self.path):
            return "\n".join(r[0] for r in self._con().execute("PRAGMA integrity_check"))

    def backup(self, dest: str | Path) -> Path:
        """Copy the store page by page into ``dest`` (a new file), consistent even while workers write."""
        dest = Path(dest).expanduser()
        if dest.exists() or dest.is_symlink():
            raise UserError(f"'{printable(str(dest))}' exists already: give a new file name for the backup")
        if not dest.parent.is_dir():
            raise UserError(f"cannot write the backup '{printable(str(dest))}': its folder does not exist; "
                            "create it first or give another path")
        try:
            target = sqlite3.connect(dest)
            target.execute("PRAGMA user_version").fetchone()  # opens the file: a destination problem is named as one
        except sqlite3.Error as e:
            raise UserError(f"cannot write the backup '{printable(str(dest))}': {printable(str(e))}") from None
        try:
            with store_errors(self.path):
                self._con().backup(target)
        finally:
            target.close()
        return dest

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(self, spec: ExperimentSpec, name: str | None = None, force: bool = False) -> int:
        """Insert the experiment and its runs; runs whose config already finished are linked, not queued."""
        if len(spec.image_sizes) > 1:  # a programming error, not a user's: the callers split the sweep
            raise ValueError("a resolution sweep is one experiment per resolution: use spec.by_resolution()")
        now = time.time()
        with self._write() as con:
            exp_id = con.execute(
                "INSERT INTO experiments (name, spec, created) VALUES (?, ?, ?)",
                (name or spec.title(), json.dumps(spec.to_dict()), now),
            ).lastrowid
        try:
            self._queue_runs(exp_id, list(enumerate(spec.runs())), force, now)
        except BaseException:
            # Half an experiment must not wait in the queue: a worker would train part of a grid.
            with contextlib.suppress(Exception):
                self.delete_experiment(exp_id)
            raise
        return exp_id

    def _queue_runs(self, experiment_id: int, runs: list, force: bool, now: float) -> None:
        """Insert runs a batch per transaction: a large grid never holds the write lock for more than
        a fraction of a second, so workers, cancels and the dashboard keep writing meanwhile."""
        rows = run_rows(experiment_id, runs, force, now)
        for start in range(0, max(len(rows), 1), QUEUE_BATCH):
            with self._write() as con:
                add_runs(con, rows[start : start + QUEUE_BATCH])
                refresh_status(con, [experiment_id])

    def extend_experiment(self, experiment_id: int, spec: ExperimentSpec, force: bool = False) -> int:
        """Add ``spec``'s sizes, freezing depths and seeds to the experiment and queue only the runs
        it does not have yet; any other difference from the stored spec is refused
        (``store/extend.py``: its runs would be averaged and paired with runs trained another way).

        The stored spec becomes the union of both grids, so no finished run falls out of it.
        Returns the number of runs added.
        """
        from tlcompare.store.extend import extended_spec

        now = time.time()
        exp = self.get_experiment(experiment_id)
        if exp is None:
            raise UserError(f"no experiment {experiment_id} (see `tlcompare ls`)")
        merged = extended_spec(experiment_id, exp["spec"], spec)
        runs = merged.runs()
        with self._write() as con:
            row = con.execute("SELECT spec FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
            if row is None:
                raise UserError(f"no experiment {experiment_id} (see `tlcompare ls`)")
            if json.loads(row["spec"]) != exp["spec"]:
                raise UserError(f"experiment {experiment_id} was changed by another command meanwhile; try again")
            existing = {r["config_hash"]: r["id"] for r in con.execute(
                "SELECT id, config_hash FROM runs WHERE experiment_id = ?", (experiment_id,))}
            new = []
            for pos, run in enumerate(runs):
                run_id = existing.pop(run.config_hash(), None)
                if run_id is None:
                    new.append((pos, run))
                else:
                    con.execute("UPDATE runs SET position = ? WHERE id = ?", (pos, run_id))
            for pos, run_id in enumerate(existing.values(), start=len(runs)):
                con.execute("UPDATE runs SET position = ? WHERE id = ?", (pos, run_id))
            con.execute("UPDATE experiments SET spec = ? WHERE id = ?", (json.dumps(merged.to_dict()), experiment_id))
        self._queue_runs(experiment_id, new, force, now)
        return len(new)

    def list_experiments(self) -> list[dict]:
        """Newest first, pinned ones on top; each with its run counts per status."""
        with self._read() as con:
            rows = con.execute("SELECT * FROM experiments ORDER BY pinned DESC, id DESC").fetchall()
            counts = _status_counts(con)
        return [experiment_dict(r, counts.get(r["id"], {})) for r in rows]

    def get_experiment(self, experiment_id: int) -> dict | None:
        with self._read() as con:
            return self._experiment(con, experiment_id)

    def _experiment(self, con: sqlite3.Connection, experiment_id: int) -> dict | None:
        row = con.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        if row is None:
            return None
        return experiment_dict(row, _status_counts(con, experiment_id).get(experiment_id, {}))

    def rename_experiment(self, experiment_id: int, name: str) -> None:
        from tlcompare.spec import MAX_NAME

        name = name.strip()
        if len(name) > MAX_NAME:  # the same cap as a spec's name, whichever face renames it
            raise UserError(f"a name of {len(name):,} characters; at most {MAX_NAME}")
        self._update_experiment(experiment_id, "name", name or f"experiment {experiment_id}")

    def set_pinned(self, experiment_id: int, pinned: bool = True) -> None:
        self._update_experiment(experiment_id, "pinned", int(bool(pinned)))

    def set_notes(self, experiment_id: int, notes: str) -> None:
        self._update_experiment(experiment_id, "notes", notes)

    def _update_experiment(self, experiment_id: int, column: str, value: Any) -> None:
        with self._write() as con:
            require_experiment(con, experiment_id)
            con.execute(f"UPDATE experiments SET {column} = ? WHERE id = ?", (value, experiment_id))

    def delete_experiment(self, experiment_id: int) -> None:
        """Delete the experiment, its runs, epochs and artifacts.

        A worker training one of its runs notices at its next write and drops the run. Checkpoint
        files inside the store's folder that no other run refers to are removed too.
        """
        with self._write() as con:
            require_experiment(con, experiment_id)
            paths = {r[0] for r in con.execute(
                "SELECT a.checkpoint_path FROM artifacts a JOIN runs r ON r.id = a.run_id "
                "WHERE r.experiment_id = ? AND a.checkpoint_path IS NOT NULL", (experiment_id,))}
            con.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))
            still_used = {r[0] for r in con.execute("SELECT DISTINCT checkpoint_path FROM artifacts")}
        root = self.path.parent.resolve()
        for p in paths - still_used:
            path = Path(p).resolve()
            if root in path.parents:
                path.unlink(missing_ok=True)

    def request_cancel(self, experiment_id: int) -> int:
        """Cancel queued runs now; ask workers to stop running ones (they do within a second or so)."""
        with self._write() as con:
            require_experiment(con, experiment_id)
            n = self._cancel(con, "experiment_id = ?", experiment_id)
            refresh_status(con, [experiment_id])
        return n

    def resume_experiment(self, experiment_id: int) -> int:
        """Queue the experiment's cancelled runs again; finished and failed runs stay as they are.

        A resumed run starts a new attempt (its earlier epochs are kept under the old one), and one
        whose config has finished elsewhere meanwhile is linked to that result when claimed.
        Returns the number of runs queued.
        """
        with self._write() as con:
            require_experiment(con, experiment_id)
            n = con.execute(
                "UPDATE runs SET status = 'queued', cancel_requested = 0, finished_at = NULL, error = NULL, step = 0, "
                "total_steps = NULL, queued_at = ? WHERE experiment_id = ? AND status = 'cancelled'",
                (time.time(), experiment_id)).rowcount
            refresh_status(con, [experiment_id])
        return n

    def request_cancel_run(self, run_id: int) -> int:
        with self._write() as con:
            row = con.execute("SELECT experiment_id FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UserError(f"no run {run_id}")
            n = self._cancel(con, "id = ?", run_id)
            refresh_status(con, [row["experiment_id"]])
        return n

    @staticmethod
    def _cancel(con: sqlite3.Connection, where: str, key: int) -> int:
        queued = con.execute(
            f"UPDATE runs SET status = 'cancelled', finished_at = ?, error = NULL WHERE {where} AND status IN {PENDING!r}",
            (time.time(), key)).rowcount
        running = con.execute(
            f"UPDATE runs SET cancel_requested = 1 WHERE {where} AND status = 'running'", (key,)).rowcount
        return queued + running

    # -- runs ----------------------------------------------------------------------------------
    def experiment_runs(self, experiment_id: int, test_correct: bool = False, epochs: bool = True,
                        artifacts: bool = True) -> list[dict]:
        """Every run in spec order; a finished one has RunResult.to_dict()'s keys plus store fields.

        ``test_correct``: also read which test images each run got right (for the verdict's
        test-set test); the pages that poll while runs train leave it out. ``epochs=False`` leaves
        each run's epoch list empty and ``artifacts=False`` its confusion matrix and mistakes
        (``run_artifacts`` reads them for the few runs a page shows).
        """
        with self._read() as con:
            return self._experiment_runs(con, experiment_id, test_correct, epochs, artifacts)

    def _experiment_runs(self, con: sqlite3.Connection, experiment_id: int, test_correct: bool = False,
                         epochs: bool = True, artifacts: bool = True) -> list[dict]:
        runs = con.execute(
            "SELECT * FROM runs WHERE experiment_id = ? ORDER BY position, id", (experiment_id,)).fetchall()
        per_run: dict[int, list[dict]] = {}
        if epochs:
            rows = con.cursor()
            rows.row_factory = None  # plain tuples: 16,000 rows at 320 runs
            for run_id, metrics in rows.execute(
                "SELECT e.run_id, e.metrics FROM runs r JOIN epochs e ON e.run_id = r.id AND e.attempt = r.attempts "
                "WHERE r.experiment_id = ? ORDER BY e.run_id, e.epoch", (experiment_id,)):
                per_run.setdefault(run_id, []).append(_metrics(metrics))
        columns = ("a.run_id, a.confusion, a.per_class_acc, a.misclassified, a.checkpoint_path" if artifacts
                   else "a.run_id, NULL AS confusion, NULL AS per_class_acc, NULL AS misclassified, a.checkpoint_path")
        columns += ", a.test_correct" if test_correct else ""
        found = {r["run_id"]: r for r in con.execute(
            f"SELECT {columns} FROM runs r JOIN artifacts a ON a.run_id = r.id WHERE r.experiment_id = ?",
            (experiment_id,))} if artifacts or test_correct else {}
        return [run_dict(r, per_run.get(r["id"], []), found.get(r["id"])) for r in runs]

    def run_artifacts(self, run_ids: list[int]) -> dict[int, dict]:
        """Confusion matrix, per-class accuracy and mistakes sample of these runs, by run id."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return {}
        with self._read() as con:
            rows = con.execute(
                f"SELECT run_id, confusion, per_class_acc, misclassified FROM artifacts WHERE run_id IN "
                f"({', '.join('?' * len(ids))})", ids).fetchall()
        return {r["run_id"]: {k: json.loads(r[k]) for k in ("confusion", "per_class_acc", "misclassified")}
                for r in rows}

    def experiment_stamp(self, experiment_id: int) -> tuple[int, str] | None:
        """(change stamp, status): what the Live page polls. The stamp grows with every change the
        pages show (see store_schema); equal stamps mean nothing to read again."""
        with store_errors(self.path):
            row = self._con().execute("SELECT changed, status FROM experiments WHERE id = ?",
                                      (experiment_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def experiment_finals(self, experiment_ids: list[int]) -> dict[int, list[dict]]:
        """The runs of these experiments without epochs or artifacts (final metrics only), by
        experiment: what a headline needs, in one query."""
        ids = [int(i) for i in experiment_ids]
        out: dict[int, list[dict]] = {i: [] for i in ids}
        if not ids:
            return out
        with self._read() as con:
            rows = con.execute(f"SELECT * FROM runs WHERE experiment_id IN ({', '.join('?' * len(ids))}) "
                               "ORDER BY experiment_id, position, id", ids).fetchall()
        for r in rows:
            out[r["experiment_id"]].append(run_dict(r, [], None))
        return out

    def save_headline(self, experiment_id: int, text: str, stamp: int) -> None:
        """Keep an experiment's headline with the stamp it was computed at; a change meanwhile wins."""
        with self._write() as con:
            con.execute("UPDATE experiments SET headline = ?, headline_stamp = ? WHERE id = ? AND changed = ?",
                        (text, stamp, experiment_id, stamp))

    def save_multiplier(self, experiment_id: int, text: str, stamp: int) -> None:
        """Keep an experiment's label multiplier (analysis/kept.py) with the stamp it was computed at; a
        change meanwhile wins (nothing is kept)."""
        with self._write() as con:
            con.execute("INSERT OR REPLACE INTO analyses (experiment_id, stamp, version, multiplier) SELECT ?, ?, ?, ? "
                        "WHERE (SELECT changed FROM experiments WHERE id = ?) = ?",
                        (experiment_id, stamp, tlcompare.__version__, text, experiment_id, stamp))

    def kept_multiplier(self, experiment_id: int, stamp: int) -> str | None:
        """The kept multiplier's JSON while it is still true (computed at ``stamp`` by this version)."""
        if self._has_analyses is False:
            return None
        try:
            row = self._con().execute("SELECT multiplier FROM analyses WHERE experiment_id = ? AND stamp = ? AND "
                                      "version = ?", (experiment_id, stamp, tlcompare.__version__)).fetchone()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):  # a read-only store of an older schema: nothing kept, ever
                self._has_analyses = False
            return None
        return row[0] if row else None

    def reusable(self, config_hashes: list[str]) -> set[str]:
        """Which of these configs already have a result a new run would copy instead of training
        (the same rule as ``finished_source``: finished, by this tlcompare version)."""
        found: set[str] = set()
        with self._read() as con:
            for i in range(0, len(config_hashes), 500):  # SQLite's limit on bound parameters
                chunk = config_hashes[i:i + 500]
                found.update(r[0] for r in con.execute(
                    f"SELECT DISTINCT config_hash FROM runs WHERE config_hash IN ({','.join('?' * len(chunk))}) "
                    f"AND status IN {FINISHED!r} AND version = ?", (*chunk, tlcompare.__version__)))
        return found

    def get_run(self, run_id: int) -> dict | None:
        with self._read() as con:
            row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            epochs = [json.loads(r["metrics"]) for r in con.execute(
                "SELECT metrics FROM epochs WHERE run_id = ? AND attempt = ? ORDER BY epoch", (run_id, row["attempts"]))]
            art = con.execute("SELECT * FROM artifacts WHERE run_id = ?", (run_id,)).fetchone()
        return run_dict(row, epochs, art)

    def run_epochs(self, run_id: int, attempt: int | None = None) -> list[dict]:
        """Epoch records of one attempt (default: every attempt), each with its ``attempt`` number.

        Earlier attempts are those a dead worker left behind; they are kept for inspection.
        """
        sql, args = "SELECT attempt, metrics FROM epochs WHERE run_id = ?", [run_id]
        if attempt is not None:
            sql, args = sql + " AND attempt = ?", [run_id, attempt]
        rows = self._con().execute(sql + " ORDER BY attempt, epoch", args).fetchall()
        return [{"attempt": r["attempt"], **json.loads(r["metrics"])} for r in rows]

    def export_experiment(self, experiment_id: int) -> dict:
        """The shape ``tlcompare run`` writes: {"spec", "environment", "runs": [RunResult dicts]}."""
        with self._read() as con:
            exp = self._experiment(con, experiment_id)
            if exp is None:
                raise UserError(f"no experiment {experiment_id} (see `tlcompare ls`)")
            runs = self._experiment_runs(con, experiment_id, test_correct=True)
        return {"spec": exp["spec"], "environment": dict(exp["environment"] or {}),
                "runs": [{k: r.get(k) for k in result_keys(r)} for r in runs]}

    def experiment_progress(self, experiment_id: int) -> dict:
        """Counts per status, overall fraction done, the runs in flight and a rough ETA."""
        now = time.time()
        with self._read() as con:
            exp = self._experiment(con, experiment_id)
            if exp is None:
                raise UserError(f"no experiment {experiment_id} (see `tlcompare ls`)")
            runs = con.execute(
                "SELECT r.*, (SELECT COUNT(*) FROM epochs e WHERE e.run_id = r.id AND e.attempt = r.attempts) AS n_epochs "
                "FROM runs r WHERE experiment_id = ? ORDER BY position", (experiment_id,)).fetchall()
        running = [r for r in runs if r["status"] == "running"]
        partial = {r["id"]: (r["step"] / r["total_steps"]) if r["total_steps"] else 0.0 for r in running}
        finished = sum(1 for r in runs if r["status"] in TERMINAL)
        held = _held(exp["spec"], runs)
        total = len(runs) + held
        remaining = sum(1 for r in runs if r["status"] in PENDING) + sum(1 - p for p in partial.values()) + held
        # Seconds per run: from runs trained here, else extrapolated from the runs in flight.
        spans = [r["finished_at"] - r["started_at"] for r in runs
                 if r["status"] in FINISHED and r["reused_from"] is None and r["started_at"] and r["finished_at"]]
        if not spans:
            spans = [(now - r["started_at"]) / partial[r["id"]] for r in running if partial[r["id"]] > 0.02]
        per_run = sum(spans) / len(spans) if spans else None
        starts = [r["started_at"] for r in runs if r["started_at"] and r["reused_from"] is None]
        return {
            "experiment_id": experiment_id,
            "status": exp["status"],
            "total": total,
            "held": held,  # tune = "lr-ends": runs not queued until the end sizes have chosen their rates
            "counts": exp["counts"],
            "finished": finished,
            "fraction": (finished + sum(partial.values())) / total if total else 1.0,
            "running": [{
                "run_id": r["id"], "label": run_label(r["arm"], r["size"], r["seed"], freeze_from_json(r["freeze"])),
                "worker_id": r["worker_id"], "device": r["device"], "attempt": r["attempts"],
                "step": r["step"], "total_steps": r["total_steps"], "epoch": r["n_epochs"],
                "epochs": epochs_planned(exp["spec"]), "cancel_requested": bool(r["cancel_requested"]),
            } for r in running],
            "elapsed_seconds": now - min(starts) if starts else 0.0,
            "eta_seconds": per_run * remaining / max(1, len(running)) if per_run is not None and remaining else (0.0 if not remaining else None),
        }

    def is_finished(self, experiment_id: int) -> bool:
        """True when no run of the experiment is queued, interrupted or running."""
        row = self._con().execute(
            f"SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND status NOT IN {TERMINAL!r}", (experiment_id,)).fetchone()
        return row[0] == 0


def _held(spec: dict, runs: list) -> int:
    """Runs of an lr-ends experiment's middle sizes that are not queued yet (store/ends.py)."""
    if spec.get("tune") != "lr-ends":
        return 0
    from tlcompare.spec import spec_from_dict

    try:
        planned = spec_from_dict(spec)
    except Exception:  # a damaged spec: its runs say so
        return 0
    middle = set(planned.middle_sizes)
    return 0 if any(r["size"] in middle for r in runs) else len(planned.held_runs())


_scan = json.JSONDecoder().scan_once  # the C scanner json.loads runs, without its per-call wrappers


def _metrics(text: str):
    """An epoch record, or None for one that is not JSON (the run then reads as damaged, alone).

    A 320-run experiment has 16,000 of them, so the record is scanned directly; anything but a plain
    record (whitespace around it, trailing text, not a string) goes through json.loads as before."""
    try:
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError, TypeError):
        pass
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def expected_tables(version: int) -> dict[str, set[str]]:
    """The tables and columns tlcompare's migrations make at ``version`` (built in memory)."""
    con = sqlite3.connect(":memory:")
    try:
        for statements in MIGRATIONS[:version]:
            for sql in statements:
                con.execute(sql)
        return {r[0]: {c[1] for c in con.execute(f"PRAGMA table_info({_quoted(r[0])})")}
                for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    finally:
        con.close()


def _status_counts(con: sqlite3.Connection, experiment_id: int | None = None) -> dict[int, dict[str, int]]:
    sql = "SELECT experiment_id, status, COUNT(*) AS n FROM runs"
    args: tuple = ()
    if experiment_id is not None:
        sql, args = sql + " WHERE experiment_id = ?", (experiment_id,)
    out: dict[int, dict[str, int]] = {}
    for r in con.execute(sql + " GROUP BY experiment_id, status", args):
        out.setdefault(r["experiment_id"], {})[r["status"]] = r["n"]
    return out
