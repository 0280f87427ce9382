"""The store on a real SQLite file: schema, queueing, reuse, claims, recovery, cancel, concurrency.

No training here: results are fake RunResult dicts, so every test is fast. test_worker.py trains.
"""

import json
import math
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import fields

import pytest

from tlcompare.errors import UserError
from tlcompare.spec import build_spec
from tlcompare.store import LostRun, Store
from tlcompare.store.correct_bits import pack_correct
from tlcompare.store.queue import MAX_CRASHES
from tlcompare.store.rows import RESULT_KEYS
from tlcompare.store.schema import SCHEMA_VERSION
from tlcompare.worker.procs import HOST


def make_spec(**overrides):
    values = dict(dataset="digits", model="efficientnet_lite0", sizes=[2, 5], freeze=[0, "all"], seeds=[0],
                  budget="epochs", epochs=2, image_size=16, batch_size=32, device="cpu")
    values.update(overrides)
    return build_spec(values)


def fake_result(claimed: dict, status: str = "done", epochs: int = 2) -> dict:
    records = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": 0.5 + 0.1 * e, "test_acc": 0.4 + 0.1 * e,
                "val_loss": float("nan"), "train_seconds": 0.1} for e in range(1, epochs + 1)]
    done = status == "done"
    return {
        "arm": claimed["arm"], "size": claimed["size"], "seed": claimed["seed"], "freeze": claimed["freeze"],
        "model": "efficientnet_lite0", "config_hash": claimed["config_hash"], "status": status, "device": "cpu",
        "trainable_params": 10, "total_params": 100, "frozen_stages": ["stem"], "pretrained_source": None,
        "lr": 0.001, "n_train": claimed["size"] * 10, "subset_hash": "abc", "batch_size": 32, "epochs": records,
        "final": {"test_acc": records[-1]["test_acc"], "train_seconds": 0.2, "images_per_sec": 100.0} if done else {},
        "confusion": [[3, 1], [0, 4]] if done else [], "per_class_acc": [0.75, 1.0] if done else [],
        "misclassified": [{"index": 7, "true": 0, "pred": 1}] if done else [],
        "test_correct": pack_correct([True, True, False, True, False]) if done else None,
        "error": None, "oom_retries": 0, "feature_cache": None,
        "head_lr": 0.01, "budget": "epochs", "steps_done": 2, "epochs_done": epochs, "stop_reason": "epochs",
        "machine": "CPU (1 thread)", "threads": 1, "thread_choice": None, "validation": "held_out", "n_val": 179, "image_size": 16,
    }


def train_fake(store: Store, claimed: dict, worker: str = "w1", status: str = "done") -> None:
    for rec in fake_result(claimed, status)["epochs"]:
        store.add_epoch(claimed["run_id"], worker, claimed["attempt"], rec)
    store.finish_run(claimed["run_id"], worker, claimed["attempt"], fake_result(claimed, status))


def drain(store: Store, worker: str = "w1") -> list[int]:
    done = []
    while (claimed := store.claim(worker)) is not None:
        train_fake(store, claimed, worker)
        done.append(claimed["run_id"])
    return done


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "t.db")


# -- schema --------------------------------------------------------------------------------------
def test_new_file_is_wal_with_schema_version(store, tlcompare_home):
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "runs", "epochs", "artifacts", "workers"} <= tables
    Store(store.path)  # opening again migrates nothing and keeps the data
    assert store.integrity_check() == "ok"
    assert Store().path == tlcompare_home / "tlcompare.db"


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="newer"):
        Store(path)


def test_result_keys_are_runresult_fields():
    from tlcompare.train import RunResult

    names = [f.name for f in fields(RunResult)]
    assert set(RESULT_KEYS) <= set(names)
    assert list(fake_result({"arm": "x", "size": 1, "seed": 0, "freeze": None, "config_hash": ""})) == names


# -- experiments and runs ------------------------------------------------------------------------
def test_create_queues_every_run_in_spec_order(store):
    spec = make_spec()
    exp_id = store.create_experiment(spec)
    runs = store.experiment_runs(exp_id)
    assert [(r["arm"], r["size"], r["freeze"]) for r in runs] == [(r.arm, r.size, r.freeze) for r in spec.runs()]
    assert [r["freeze"] for r in runs] == [None, 0, "all", None, 0, "all"]  # int, 'all' and None survive TEXT
    assert all(r["status"] == "queued" for r in runs)
    assert runs[1]["config_hash"] == spec.runs()[1].config_hash() and runs[1]["config"] == spec.runs()[1].config()
    exp = store.get_experiment(exp_id)
    assert exp["status"] == "queued" and exp["spec"] == spec.to_dict() and exp["n_runs"] == 6


def test_finished_run_has_runresult_shape_and_values(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    claimed = store.claim("w1")
    assert claimed["attempt"] == 1 and claimed["position"] == 0 and claimed["n_runs"] == 2
    train_fake(store, claimed)
    run = store.experiment_runs(exp_id, test_correct=True)[0]
    expected = fake_result(claimed)
    for key in expected:
        if key == "epochs":
            assert [e["epoch"] for e in run["epochs"]] == [1, 2] and math.isnan(run["epochs"][0]["val_loss"])
        else:
            assert run[key] == expected[key], key
    assert run["progress"] == 1.0 and run["worker_id"] == "w1" and run["finished_at"] >= run["started_at"]
    exported = store.export_experiment(exp_id)
    assert set(exported) == {"spec", "environment", "runs"} and list(exported["runs"][0]) == list(expected)
    assert list(run)[: len(expected)] == list(expected)  # RunResult's order first, then the store's fields
    assert exported["runs"][0]["test_correct"] == expected["test_correct"]


def test_per_image_results_are_read_only_when_asked_for_and_travel_with_reuse(store):
    first = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    drain(store)
    assert all("test_correct" not in r for r in store.experiment_runs(first))  # the live pages poll this
    row = sqlite3.connect(store.path).execute("SELECT extra FROM runs WHERE experiment_id = ?", (first,)).fetchone()
    assert "test_correct" not in json.loads(row[0])["values"]  # in the artifacts row, not the run row
    second = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    copies = store.experiment_runs(second, test_correct=True)
    assert all(r["reused_from"] and r["test_correct"] == pack_correct([True, True, False, True, False]) for r in copies)


def test_a_store_from_before_per_image_results_is_upgraded_in_place(tmp_path):
    from tlcompare.store.schema import MIGRATIONS

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    for sql in MIGRATIONS[0]:
        con.execute(sql)
    con.execute("PRAGMA user_version = 1")
    con.execute("INSERT INTO experiments (name, spec, created) VALUES ('old', '{}', 0)")
    con.execute("INSERT INTO runs (experiment_id, position, arm, size, seed, model, lr, config, config_hash, status, "
                "queued_at, final) VALUES (1, 0, 'scratch', 2, 0, 'm', 0.1, '{}', 'h', 'done', 0, '{\"test_acc\": 0.5}')")
    con.execute("INSERT INTO artifacts (run_id, confusion, per_class_acc, misclassified) VALUES (1, '[]', '[]', '[]')")
    con.commit()
    con.close()
    run = Store(path).experiment_runs(1, test_correct=True)[0]
    assert run["final"] == {"test_acc": 0.5} and run["test_correct"] is None


def test_analysis_reads_store_runs(store):
    from tlcompare.analysis.frames import runs_frame, summary

    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    drain(store)
    frame = runs_frame(store.experiment_runs(exp_id))
    assert len(summary(frame)) == 2


def test_metadata_and_listing(store):
    a = store.create_experiment(make_spec(), name="first")
    b = store.create_experiment(make_spec(seeds=[1]))
    store.rename_experiment(a, "renamed")
    store.set_notes(a, "why this run")
    store.set_pinned(a, True)
    listed = store.list_experiments()
    assert [e["id"] for e in listed] == [a, b]  # pinned first, then newest
    assert listed[0]["name"] == "renamed" and listed[0]["notes"] == "why this run" and listed[0]["pinned"]
    assert listed[1]["name"] == "digits / efficientnet_lite0" and listed[1]["counts"] == {"queued": 6}
    with pytest.raises(UserError, match="no experiment 999"):
        store.request_cancel(999)


def test_delete_removes_everything_and_unshared_checkpoints(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    ckpt = store.path.parent / "ckpt" / "a.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    outside = store.path.parent.parent / "keep.pt"
    outside.write_bytes(b"x")
    for path in (ckpt, outside):
        claimed = store.claim("w1")
        result = fake_result(claimed)
        result["checkpoint_path"] = str(path)
        store.finish_run(claimed["run_id"], "w1", 1, result)
    store.delete_experiment(exp_id)
    con = sqlite3.connect(store.path)
    assert [con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "epochs", "artifacts")] == [0, 0, 0]
    assert not ckpt.exists() and outside.exists()  # never deletes a file outside the store's folder
    assert store.get_experiment(exp_id) is None


# -- reuse ----------------------------------------------------------------------------------------
def test_identical_runs_are_linked_not_retrained(store):
    first = store.create_experiment(make_spec())
    drain(store)
    second = store.create_experiment(make_spec())
    runs = store.experiment_runs(second)
    assert all(r["status"] == "done" and r["reused_from"] for r in runs)
    assert store.claim("w1") is None and store.get_experiment(second)["status"] == "done"
    originals = {r["config_hash"]: r for r in store.experiment_runs(first)}
    for r in runs:
        o = originals[r["config_hash"]]
        assert r["reused_from"] == o["run_id"]
        assert (r["epochs"], r["final"], r["confusion"]) == (o["epochs"], o["final"], o["confusion"])
    # The copy survives the original's deletion.
    store.delete_experiment(first)
    assert store.experiment_runs(second)[0]["final"]["test_acc"] == pytest.approx(0.6)
    # Results of another tlcompare version are not reused: a fix to the loop changes no config.
    sqlite3.connect(store.path).execute("UPDATE runs SET version = '0.0.1' WHERE experiment_id = ?", (second,)).connection.commit()
    assert {r["status"] for r in store.experiment_runs(store.create_experiment(make_spec()))} == {"queued"}
    # force trains everything again.
    forced = store.create_experiment(make_spec(), force=True)
    assert {r["status"] for r in store.experiment_runs(forced)} == {"queued"}


def test_adding_a_seed_or_size_trains_only_what_is_new(store):
    exp_id = store.create_experiment(make_spec())
    drain(store)
    added = store.extend_experiment(exp_id, make_spec(seeds=[0, 1]))
    assert added == 6
    trained = drain(store)
    assert len(trained) == 6
    runs = store.experiment_runs(exp_id)
    assert [(r["size"], r["seed"]) for r in runs][:6] == [(2, 0)] * 3 + [(2, 1)] * 3  # spec order
    assert store.get_experiment(exp_id)["spec"]["seeds"] == [0, 1]
    # A new experiment with one more size reuses the twelve finished runs.
    other = store.create_experiment(make_spec(sizes=[2, 5, 10], seeds=[0, 1]))
    assert sum(r["status"] == "queued" for r in store.experiment_runs(other)) == 6


def test_a_run_being_trained_elsewhere_is_waited_for_then_linked(store):
    a = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    first = store.claim("w1")
    b = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    second = store.claim("w2")
    assert second["experiment_id"] == a and second["arm"] == "pretrained"  # b's scratch run waits for a's
    assert store.claim("w3") is None and store.has_pending(b)
    train_fake(store, first)
    train_fake(store, second, "w2")
    assert store.claim("w3") is None  # both of b's runs were linked at claim time
    assert [r["reused_from"] for r in store.experiment_runs(b)] == [first["run_id"], second["run_id"]]


# -- ownership, recovery, cancel ------------------------------------------------------------------
def _age_heartbeat(store: Store, run_id: int, seconds: float, host: str = "elsewhere") -> None:
    con = sqlite3.connect(store.path)
    with con:
        con.execute("UPDATE runs SET heartbeat = heartbeat - ? WHERE id = ?", (seconds, run_id))
        con.execute("UPDATE workers SET host = ? WHERE id = (SELECT worker_id FROM runs WHERE id = ?)", (host, run_id))


def test_dead_worker_run_is_requeued_with_its_epochs_kept(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    store.register_worker("w1")
    claimed = store.claim("w1")
    store.add_epoch(claimed["run_id"], "w1", 1, fake_result(claimed)["epochs"][0])
    assert store.recover_stale(stale_after=15) == []  # fresh heartbeat, pid alive
    _age_heartbeat(store, claimed["run_id"], 60)
    assert store.recover_stale(stale_after=15) == [{"run_id": claimed["run_id"], "status": "interrupted", "worker_id": "w1"}]
    run = store.experiment_runs(exp_id)[0]
    assert run["status"] == "interrupted" and len(run["epochs"]) == 1 and "died" in run["error"]
    again = store.claim("w2")
    assert again["run_id"] == claimed["run_id"] and again["attempt"] == 2
    with pytest.raises(LostRun):  # the presumed-dead worker comes back: it cannot write any more
        store.add_epoch(claimed["run_id"], "w1", 1, fake_result(claimed)["epochs"][1])
    train_fake(store, again, "w2")
    run = store.experiment_runs(exp_id)[0]
    assert run["status"] == "done" and run["attempts"] == 2 and run["crashes"] == 1 and run["error"] is None
    assert [e["attempt"] for e in store.run_epochs(claimed["run_id"])] == [1, 2, 2]


def test_a_run_that_keeps_killing_its_worker_fails(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    for _ in range(MAX_CRASHES):
        claimed = store.claim("w1")
        assert claimed["position"] == 0
        _age_heartbeat(store, claimed["run_id"], 60)
        store.recover_stale(15)
    run = store.experiment_runs(exp_id)[0]
    assert run["status"] == "failed" and "died 3 times" in run["error"]


def test_dead_worker_is_detected_by_pid_at_once(store):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    claimed = store.claim("w1")
    con = sqlite3.connect(store.path)
    with con:
        con.execute("INSERT INTO workers (id, pid, host, state, started_at, heartbeat) VALUES ('w1', ?, ?, 'running', ?, ?)",
                    (proc.pid, HOST, time.time(), time.time()))
    assert [r["run_id"] for r in store.recover_stale(stale_after=3600)] == [claimed["run_id"]]


def test_cancel(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    claimed = store.claim("w1")
    assert store.run_control(claimed["run_id"], "w1", 1) == "ok"
    assert store.request_cancel(exp_id) == 2
    runs = store.experiment_runs(exp_id)
    assert [r["status"] for r in runs] == ["running", "cancelled"]  # the queued one is cancelled at once
    assert store.get_experiment(exp_id)["status"] == "cancelling"
    assert store.run_control(claimed["run_id"], "w1", 1) == "cancel"
    assert store.run_control(claimed["run_id"], "w2", 1) == "lost"
    train_fake(store, claimed, status="cancelled")
    assert store.get_experiment(exp_id)["status"] == "cancelled" and store.is_finished(exp_id)
    assert len(store.experiment_runs(exp_id)[0]["epochs"]) == 2  # what it measured before stopping is kept


def test_resume_queues_the_cancelled_runs_and_keeps_the_finished_ones(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    first = store.claim("w1")
    train_fake(store, first)
    second = store.claim("w1")
    store.request_cancel(exp_id)
    train_fake(store, second, status="cancelled")
    assert store.get_experiment(exp_id)["status"] == "cancelled"
    assert store.resume_experiment(exp_id) == 1
    runs = store.experiment_runs(exp_id)
    assert [r["status"] for r in runs] == ["done", "queued"] and not runs[1]["cancel_requested"]
    assert store.get_experiment(exp_id)["status"] == "queued"
    again = store.claim("w1")
    assert again["run_id"] == second["run_id"] and again["attempt"] == 2  # a new attempt: its old epochs stay apart
    assert store.run_control(again["run_id"], "w1", 2) == "ok"  # the old cancel no longer stops it
    train_fake(store, again)
    assert store.get_experiment(exp_id)["status"] == "done"
    assert store.experiment_runs(exp_id)[0]["final"] == runs[0]["final"]
    assert store.resume_experiment(exp_id) == 0
    with pytest.raises(UserError, match="no experiment 999"):
        store.resume_experiment(999)


def test_deleted_run_is_lost_to_its_worker(store):
    exp_id = store.create_experiment(make_spec(sizes=[2], freeze=["all"]))
    claimed = store.claim("w1")
    store.delete_experiment(exp_id)
    assert store.run_control(claimed["run_id"], "w1", 1) == "lost"
    with pytest.raises(LostRun):
        store.finish_run(claimed["run_id"], "w1", 1, fake_result(claimed))


def test_progress(store):
    exp_id = store.create_experiment(make_spec())
    train_fake(store, store.claim("w1"))
    claimed = store.claim("w1")
    store.worker_heartbeat("w1", claimed["run_id"], 1, step=5, total_steps=10)
    p = store.experiment_progress(exp_id)
    assert p["total"] == 6 and p["finished"] == 1 and p["counts"] == {"done": 1, "running": 1, "queued": 4}
    assert p["fraction"] == pytest.approx(1.5 / 6)
    assert p["running"][0]["step"] == 5 and p["running"][0]["label"] == "pretrained, fine-tune all · 2 per class · seed 0"
    assert p["eta_seconds"] is not None


def test_worker_slot_reservation_is_exclusive(store):
    results = []

    def reserve(i):
        results.append(Store(store.path).reserve_worker_slot("auto#0", None, f"w{i}"))

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is None for r in results) == 1  # exactly one caller gets to start a worker
    assert len({r["id"] for r in results if r is not None}) == 1


# -- several processes on one file -----------------------------------------------------------------
CLAIMER = textwrap.dedent("""
    import json, os, sys, time
    from tlcompare.store import Store
    store, name, claimed = Store(sys.argv[1]), sys.argv[2], []
    print("ready", flush=True)
    while not os.path.exists(sys.argv[4]):  # start together, so the claims really race
        time.sleep(0.005)
    while (c := store.claim(name)) is not None:
        claimed.append(c["run_id"])
        store.add_epoch(c["run_id"], name, 1, {"epoch": 1})
        store.finish_run(c["run_id"], name, 1, dict(json.loads(sys.argv[3]), config_hash=c["config_hash"],
                         arm=c["arm"], size=c["size"], seed=c["seed"], freeze=c["freeze"]))
        time.sleep(0.01)  # as a real run takes time: the others get their turn even on a busy machine
    print(json.dumps(claimed))
""")


def test_concurrent_claims_never_share_a_run(store):
    exp_id = store.create_experiment(make_spec(sizes=[2, 3, 4, 5, 6, 7, 8, 9], seeds=[0, 1, 2]))  # 72 runs
    result = json.dumps(fake_result({"arm": "x", "size": 1, "seed": 0, "freeze": None, "config_hash": ""}))
    go = store.path.parent / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(store.path), f"p{i}", result, str(go)],
                              stdout=subprocess.PIPE, text=True) for i in range(4)]
    assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 4
    go.touch()
    claims = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    flat = [run_id for c in claims for run_id in c]
    assert len(flat) == len(set(flat)) == 72
    assert sum(1 for c in claims if c) >= 2
    runs = store.experiment_runs(exp_id)
    assert all(r["attempts"] == 1 and r["status"] == "done" for r in runs)
    assert store.integrity_check() == "ok"


WRITER = textwrap.dedent("""
    import json, sys
    from tlcompare.store import Store
    store = Store(sys.argv[1])
    result = json.loads(sys.argv[2])
    while (c := store.claim("writer")) is not None:
        for e in range(1, 21):
            store.add_epoch(c["run_id"], "writer", 1, {"epoch": e, "test_acc": 0.5})
            store.worker_heartbeat("writer", c["run_id"], 1, step=e, total_steps=20)
        result["epochs"] = [{"epoch": e, "test_acc": 0.5} for e in range(1, 21)]
        store.finish_run(c["run_id"], "writer", 1, dict(result, config_hash=c["config_hash"], arm=c["arm"],
                         size=c["size"], seed=c["seed"], freeze=c["freeze"]))
""")


def test_readers_never_block_and_never_see_half_written_runs(store):
    exp_id = store.create_experiment(make_spec(sizes=[2, 3, 4, 5, 6], seeds=[0, 1]))  # 30 runs x 20 epochs
    result = fake_result({"arm": "x", "size": 1, "seed": 0, "freeze": None, "config_hash": ""})
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), json.dumps(result)])
    errors, reads = [], [0]

    def read():
        while writer.poll() is None:
            try:
                for r in store.experiment_runs(exp_id):
                    if r["status"] == "done":  # a finished run always comes with all its results
                        assert len(r["epochs"]) == 20 and r["final"] and r["confusion"], r
                    else:
                        assert len(r["epochs"]) <= 20
                store.experiment_progress(exp_id)
                store.list_experiments()
                reads[0] += 1
            except Exception as e:  # "database is locked" would land here
                errors.append(repr(e))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    store.set_notes(exp_id, "a dashboard write while the worker writes")
    assert writer.wait(timeout=120) == 0
    for t in readers:
        t.join()
    assert errors == []
    assert reads[0] > 50
    assert store.get_experiment(exp_id)["status"] == "done" and store.integrity_check() == "ok"
