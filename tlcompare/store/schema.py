"""The store's tables and the migrations that create and upgrade them.

``PRAGMA user_version`` holds the number of migrations applied. A migration is a list of
statements run in one transaction, so a crash mid-upgrade leaves the file at the old version.
Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

from tlcompare.errors import UserError

RUN_STATUSES = ("queued", "running", "done", "diverged", "failed", "cancelled", "interrupted")

_V1 = [
    """CREATE TABLE experiments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,                 -- ExperimentSpec.to_dict() as JSON
        created REAL NOT NULL,              -- unix seconds
        status TEXT NOT NULL DEFAULT 'queued',
        notes TEXT NOT NULL DEFAULT '',
        pinned INTEGER NOT NULL DEFAULT 0,
        environment TEXT                    -- JSON, written by the first worker that prepares its data
    )""",
    f"""CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,          -- order of the run in spec.runs()
        arm TEXT NOT NULL,
        size INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        freeze TEXT,                        -- an int, 'all' or NULL, as text
        model TEXT NOT NULL,
        lr REAL NOT NULL,
        config TEXT NOT NULL,               -- RunSpec.config() as JSON
        config_hash TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN {RUN_STATUSES!r}),
        force INTEGER NOT NULL DEFAULT 0,   -- 1: train even when an identical run has finished
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        reused_from INTEGER,                -- the run whose results were copied here (no FK: it may be deleted)
        attempts INTEGER NOT NULL DEFAULT 0,  -- claims so far; epochs are kept per attempt
        crashes INTEGER NOT NULL DEFAULT 0,   -- attempts that ended with the worker dying
        worker_id TEXT,
        heartbeat REAL,
        device TEXT,
        queued_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER,
        trainable_params INTEGER,
        total_params INTEGER,
        n_train INTEGER,
        frozen_stages TEXT,                 -- JSON list
        pretrained_source TEXT,
        final TEXT,                         -- JSON dict of final metrics
        extra TEXT,                         -- JSON: RunResult fields without a column, and their order
        version TEXT,                       -- the tlcompare version that trained it: reuse stays within one
        error TEXT,                         -- one readable line
        traceback TEXT,                     -- for debugging failures
        UNIQUE (experiment_id, config_hash)
    )""",
    "CREATE INDEX runs_by_status ON runs (status, experiment_id, position)",
    "CREATE INDEX runs_by_hash ON runs (config_hash, status)",
    "CREATE INDEX runs_by_experiment ON runs (experiment_id, position)",
    # attempt 0 holds epochs copied from a reused run; a re-queued run keeps its earlier attempts.
    """CREATE TABLE epochs (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        metrics TEXT NOT NULL,              -- the epoch record as JSON
        written REAL NOT NULL,
        PRIMARY KEY (run_id, attempt, epoch)
    )""",
    """CREATE TABLE artifacts (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        confusion TEXT NOT NULL,
        per_class_acc TEXT NOT NULL,
        misclassified TEXT NOT NULL,
        checkpoint_path TEXT
    )""",
    """CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        slot TEXT,                          -- set for workers started by ensure_worker / the local executor
        experiment_id INTEGER,              -- set for a worker serving one experiment only (tlcompare run)
        pid INTEGER,
        host TEXT,
        device TEXT,
        state TEXT NOT NULL,                -- starting | idle | running | exited | dead
        run_id INTEGER,
        started_at REAL NOT NULL,
        heartbeat REAL,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        log_path TEXT
    )""",
]

# Which test images each finished run got right (correct_bits), for the tests over test images.
# Kept out of the run row: only the verdict reads it, the live pages never do.
_V2 = ["ALTER TABLE artifacts ADD COLUMN test_correct TEXT"]

# A change stamp per experiment, kept by triggers so no write path can forget it: the Live page's
# idle poll reads this one integer instead of every run. Every change the pages show bumps it (a
# run's state or step, an epoch row, the name or spec); a heartbeat that moves nothing does not.
# The History headline is stored with the stamp it was computed at: equal stamps mean still true.
_RUN_COLUMNS = "status, step, total_steps, final, error, attempts, cancel_requested, position, device"
_BUMP = "UPDATE experiments SET changed = changed + 1 WHERE id = {}"
_V3 = [
    "ALTER TABLE experiments ADD COLUMN changed INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE experiments ADD COLUMN headline TEXT",
    "ALTER TABLE experiments ADD COLUMN headline_stamp INTEGER",
    f"CREATE TRIGGER runs_added AFTER INSERT ON runs BEGIN {_BUMP.format('NEW.experiment_id')}; END",
    f"CREATE TRIGGER runs_removed AFTER DELETE ON runs BEGIN {_BUMP.format('OLD.experiment_id')}; END",
    f"CREATE TRIGGER runs_changed AFTER UPDATE OF {_RUN_COLUMNS} ON runs WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _RUN_COLUMNS.split(", "))
    + f" BEGIN {_BUMP.format('NEW.experiment_id')}; END",
    "CREATE TRIGGER epochs_added AFTER INSERT ON epochs BEGIN "
    f"{_BUMP.format('(SELECT experiment_id FROM runs WHERE id = NEW.run_id)')}; END",
    f"CREATE TRIGGER experiment_edited AFTER UPDATE OF name, spec, environment ON experiments BEGIN "
    f"{_BUMP.format('NEW.id')}; END",
    # History's run counts per experiment and status: read from the index alone.
    "CREATE INDEX runs_by_experiment_status ON runs (experiment_id, status)",
]

# A run's freezing depth as JSON, like every other typed value in the store: 3, "all" or NULL
# (it was text: '3', 'all'). An integer's text is already its JSON; only 'all' changes.
_V4 = ["UPDATE runs SET freeze = json_quote(freeze) WHERE freeze IS NOT NULL AND json_valid(freeze) = 0"]

# The label multiplier of an experiment's content (analysis/kept.py), kept with the change stamp and
# tlcompare version it was computed at, so Results' first look reads it instead of resampling. A table
# of its own: History lists every experiment row and never reads these.
_V5 = ["""CREATE TABLE analyses (
        experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
        stamp INTEGER NOT NULL,             -- experiments.changed when it was computed
        version TEXT NOT NULL,              -- the tlcompare version that computed it
        multiplier TEXT NOT NULL            -- analysis/kept.py's JSON
    )"""]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(con: sqlite3.Connection) -> int:
    """Bring the file up to SCHEMA_VERSION; safe when several processes open a new file at once."""
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return version
    con.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated in the meantime.
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UserError(
                f"the experiment database has schema version {version}, newer than this tlcompare "
                f"understands ({SCHEMA_VERSION}); upgrade tlcompare"
            )
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                con.execute(sql)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
