"""Real worker processes on a real store file, training tiny digits experiments on the CPU.

Each test starts `python -m tlcompare worker` subprocesses and reads the store while they write,
as the dashboard does: results match `tlcompare run`, kill -9 loses nothing finished, two workers
never share a run, cancel lands within seconds, readers are never locked out.
"""

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import TIMING, tlc, wait_for

from tlcompare.report.content import STORE_FIELDS
from tlcompare.store import Store
from tlcompare.worker.control import ensure_worker, stop_worker, worker_state

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fast_env(monkeypatch):
    # One thread per process: two workers on two cores with OpenMP spinning is far slower, not faster.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TLCOMPARE_POLL_SECONDS", "0.2")
    monkeypatch.setenv("TLCOMPARE_HEARTBEAT_SECONDS", "0.5")


def write_spec(tmp_path: Path, **values) -> Path:
    spec = dict(dataset="digits", model="efficientnet_lite0", sizes=[2, 5], freeze=["all"], seeds=[0], budget="epochs", epochs=3,
                image_size=16, batch_size=32, device="cpu")
    spec.update(values)
    path = tmp_path / "exp.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in spec.items()))  # JSON scalars/lists are TOML
    return path


@pytest.fixture
def submit(capsys):
    """``tlcompare submit SPEC``'s experiment id; in this process (the workers are what is tested here)."""

    def submit(spec_path: Path) -> int:
        r = tlc("submit", spec_path, capsys=capsys)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.strip())  # stdout is the id alone, for scripts

    return submit


class Workers:
    """Worker subprocesses of one test; whatever is left is killed at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path, self.procs = tmp_path, []

    def start(self, *args, env=None) -> subprocess.Popen:
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([sys.executable, "-m", "tlcompare", "worker", *map(str, args)], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        proc.log_path, proc.log_file = log.name, log
        self.procs.append(proc)
        return proc

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.log_file.close()


@pytest.fixture
def workers(tmp_path):
    w = Workers(tmp_path)
    yield w
    w.kill_all()


def poll_while(procs, store: Store, exp_id: int) -> dict:
    """Read the store the way the dashboard does, 20 times a second (its Live page reads every 2 s),
    until every process has exited. Not in a tight loop: that took a core from the workers it watches."""
    stats = {"reads": 0, "errors": []}
    while any(p.poll() is None for p in procs):
        try:
            store.experiment_runs(exp_id)
            store.experiment_progress(exp_id)
            store.list_experiments()
            stats["reads"] += 1
        except Exception as e:  # "database is locked" would land here
            stats["errors"].append(repr(e))
        time.sleep(0.05)
    return stats


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        a = float("nan") if a is None else a  # JSON writes NaN as null
        b = float("nan") if b is None else b
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def assert_same_training(ref: dict, got: dict):
    for key, value in ref.items():
        if key == "epochs":
            assert len(got["epochs"]) == len(value)
            for e_ref, e_got in zip(value, got["epochs"], strict=True):
                assert set(e_ref) == set(e_got)
                bad = {k: (e_ref[k], e_got[k]) for k in e_ref if k not in TIMING and not same(e_ref[k], e_got[k])}
                assert not bad, f"{got['arm']} size {got['size']} epoch {e_ref['epoch']}: {bad}"
        elif key == "final":
            bad = {k: (v, got["final"][k]) for k, v in value.items() if k not in TIMING and not same(v, got["final"][k])}
            assert not bad, bad
        elif key != "device":
            assert same(value, got[key]) if isinstance(value, float) else value == got[key], key


# -- results ----------------------------------------------------------------------------------------
def test_worker_results_match_tlcompare_run(tmp_path, workers, submit, capsys):
    spec = write_spec(tmp_path, sizes=[2], image_size=32)
    out = tmp_path / "ref.json"
    # `tlcompare run` in this process (on one thread, as the worker: fast_env), the worker in its own
    r = tlc("run", "--config", spec, "--out", out, env={"TLCOMPARE_HOME": str(tmp_path / "ref-home")}, capsys=capsys)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == "tlcompare-report" and len(doc["experiments"]) == 1  # the report's JSON
    ref = doc["experiments"][0]
    assert {"spec", "environment", "runs", "label_multiplier"} <= set(ref) and ref["environment"]["wall_seconds"] > 0
    assert "test 0." in r.stderr and "Test accuracy" in r.stdout  # the same progress and summary as before

    exp_id = submit(spec)  # a fresh TLCOMPARE_HOME: nothing to reuse, the worker trains every run
    store = Store()
    stats = poll_while([workers.start("--once")], store, exp_id)
    assert workers.procs[0].returncode == 0
    assert stats["errors"] == [] and stats["reads"] > 10

    runs = store.experiment_runs(exp_id, test_correct=True)  # all of RunResult, per-image results included
    assert [r["status"] for r in runs] == ["done"] * 2 and all(r["attempts"] == 1 for r in runs)
    for ref_run, run in zip(ref["runs"], runs, strict=True):
        # what the run trained: the export's RunResult fields, without the store's bookkeeping of who and when
        ref_run = {k: v for k, v in ref_run.items() if k not in STORE_FIELDS}
        assert list(run)[: len(ref_run)] == list(ref_run)  # RunResult's keys, in its order
        assert_same_training(ref_run, run)
    exported = store.export_experiment(exp_id)
    assert exported["spec"] == ref["spec"]
    assert set(exported["environment"]) == set(ref["environment"]) - {"wall_seconds"}


def test_a_failing_run_is_recorded_and_the_worker_goes_on(tmp_path, workers, submit):
    # A checkpoint that exists (so the spec is valid) but holds no state dict: only the pretrained
    # runs can fail, and only when they load it.
    (tmp_path / "not-weights.pt").write_text("a text file, not a state dict")
    exp_id = submit(write_spec(tmp_path, sizes=[2], freeze=[0, "all"], epochs=1, weights=str(tmp_path / "not-weights.pt")))
    worker = workers.start("--once")
    assert worker.wait(timeout=300) == 0
    runs = Store().experiment_runs(exp_id)
    assert [r["status"] for r in runs] == ["done", "failed", "failed"]
    assert "is not a PyTorch state dict" in runs[1]["error"] and "\n" not in runs[1]["error"]
    assert "Traceback" in runs[1]["traceback"]
    assert Store().get_experiment(exp_id)["status"] == "failed"


# -- crashes --------------------------------------------------------------------------------------
def test_kill_9_loses_nothing_finished_and_the_interrupted_run_finishes(tmp_path, workers, submit):
    exp_id = submit(write_spec(tmp_path, sizes=[2, 5], epochs=6))  # 4 runs
    store = Store()

    def run(pos):
        return store.experiment_runs(exp_id)[pos]

    # Each point kills the worker at a different moment of a different run.
    kill_points = [
        ("after run 0's first epoch", lambda: len(run(0)["epochs"]) >= 1),
        ("in the middle of run 1 (3 of 6 epochs)", lambda: run(1)["status"] == "running" and len(run(1)["epochs"]) >= 3),
        ("as run 2 starts, before any epoch", lambda: run(2)["status"] == "running"),
        ("right after run 2 finished", lambda: run(2)["status"] == "done"),
        ("in run 3's last epoch", lambda: run(3)["status"] == "running" and len(run(3)["epochs"]) >= 5),
    ]
    finished: dict[int, dict] = {}  # run id -> the run as it was right after the kill
    interrupted: list[tuple[int, int, list]] = []  # (run id, attempt, epochs written before the kill)
    for i, (_, reached) in enumerate(kill_points):
        worker = workers.start()
        wait_for(reached, 240, kill_points[i][0])
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert store.integrity_check() == "ok"
        snapshot = store.experiment_runs(exp_id)
        for r in snapshot:
            if r["status"] == "done":
                finished.setdefault(r["run_id"], r)
            elif r["status"] == "running":
                interrupted.append((r["run_id"], r["attempts"], r["epochs"]))
        print(f"kill -9 {kill_points[i][0]}: " + ", ".join(  # shown with -s: what each kill hit
            f"run {r['position']} {r['status']} ({len(r['epochs'])} ep)" for r in snapshot if r["status"] != "queued"))
        if i == 0:  # what the next worker does on start, done here to see the state in between
            assert [x["status"] for x in store.recover_stale()] == ["interrupted"]
            assert run(0)["status"] == "interrupted" and len(run(0)["epochs"]) >= 1

    assert len(interrupted) >= 4  # the "right after" point may land between runs
    assert workers.start("--once").wait(timeout=300) == 0
    assert store.integrity_check() == "ok"

    final = {r["run_id"]: r for r in store.experiment_runs(exp_id)}
    assert all(r["status"] == "done" and len(r["epochs"]) == 6 for r in final.values())
    for run_id, before in finished.items():  # intact: not retrained, not touched
        after = final[run_id]
        assert (after["attempts"], after["epochs"], after["final"], after["confusion"]) == (
            before["attempts"], before["epochs"], before["final"], before["confusion"])
    for run_id, attempt, epochs in interrupted:
        r = final[run_id]
        assert r["attempts"] > attempt and r["crashes"] >= 1
        kept = store.run_epochs(run_id, attempt)  # the dead worker's epochs stay for inspection
        assert [e["epoch"] for e in kept] == [e["epoch"] for e in epochs]
        for old, new in zip(kept, r["epochs"], strict=False):  # and the retry repeats them exactly
            assert all(same(old[k], new[k]) for k in new if k not in TIMING)


def test_frozen_worker_is_recovered_by_heartbeat_and_cannot_overwrite(tmp_path, workers, submit):
    env = {"TLCOMPARE_STALE_SECONDS": "3"}
    exp_id = submit(write_spec(tmp_path, sizes=[2], epochs=8))
    store = Store()
    frozen = workers.start(env=env)
    wait_for(lambda: len(store.experiment_runs(exp_id)[0]["epochs"]) >= 1, 240, "the first epoch")
    while True:  # never freeze it while it holds the write lock (that would stall every writer)
        frozen.send_signal(signal.SIGSTOP)
        probe = sqlite3.connect(store.path, timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            break
        except sqlite3.OperationalError:
            frozen.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        finally:
            probe.close()
    attempt1 = store.experiment_runs(exp_id)[0]["epochs"]
    started = time.monotonic()
    rescuer = workers.start("--once", env=env)
    wait_for(lambda: store.experiment_runs(exp_id)[0]["attempts"] == 2, 120, "the run to be taken over")
    assert time.monotonic() - started >= 2  # it waited for the heartbeat to go stale (pid is alive)
    frozen.send_signal(signal.SIGCONT)  # it wakes up believing it still owns the run
    assert rescuer.wait(timeout=300) == 0
    frozen.send_signal(signal.SIGTERM)
    assert frozen.wait(timeout=60) == 0

    run = store.experiment_runs(exp_id)[0]
    rescuer_id = next(w["id"] for w in store.list_workers() if w["pid"] == rescuer.pid)
    assert run["status"] == "done" and run["worker_id"] == rescuer_id and len(run["epochs"]) == 8
    assert store.run_epochs(run["run_id"], 1) == [{"attempt": 1, **e} for e in attempt1]  # nothing written after waking
    assert "no longer ours" in Path(frozen.log_path).read_text() or "lost" in Path(frozen.log_path).read_text()


# -- concurrency ------------------------------------------------------------------------------------
def test_two_workers_never_train_the_same_run(tmp_path, workers, submit):
    exp_id = submit(write_spec(tmp_path, seeds=[0, 1], epochs=2))  # 8 runs
    store = Store()
    procs = [workers.start("--once"), workers.start("--once")]
    stats = poll_while(procs, store, exp_id)
    assert [p.returncode for p in procs] == [0, 0]
    assert stats["errors"] == [] and stats["reads"] > 10

    claimed = [re.findall(r": run (\d+) \(.*\): attempt (\d+)", Path(p.log_path).read_text()) for p in procs]
    ids = [{int(run_id) for run_id, _ in c} for c in claimed]
    runs = store.experiment_runs(exp_id)
    assert ids[0].isdisjoint(ids[1]) and ids[0] | ids[1] == {r["run_id"] for r in runs}
    assert ids[0] and ids[1]  # both took part
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in runs)
    assert store.integrity_check() == "ok"


def test_cancel_stops_a_running_run_within_seconds(tmp_path, workers, submit, capsys):
    exp_id = submit(write_spec(tmp_path, sizes=[5], epochs=500))
    store = Store()
    worker = workers.start()
    wait_for(lambda: len(store.experiment_runs(exp_id)[0]["epochs"]) >= 1, 240, "the first epoch")
    started = time.monotonic()
    assert tlc("cancel", exp_id, capsys=capsys).returncode == 0
    wait_for(lambda: store.experiment_runs(exp_id)[0]["status"] == "cancelled", 30, "the run to stop")
    latency = time.monotonic() - started
    assert latency < 5, latency
    runs = store.experiment_runs(exp_id)
    assert runs[1]["status"] == "cancelled" and runs[1]["attempts"] == 0  # the queued one never started
    assert 1 <= len(runs[0]["epochs"]) < 500 and store.get_experiment(exp_id)["status"] == "cancelled"
    # The worker lives on, idle; `tlcompare workers --stop` ends it.
    wait_for(lambda: worker_state()["state"] == "idle", 10, "the worker to be idle")
    assert tlc("workers", "--stop", capsys=capsys).returncode == 0
    assert worker.wait(timeout=30) == 0
    assert worker_state()["state"] == "stopped"


# -- starting workers for the dashboard -------------------------------------------------------------
def test_ensure_worker_starts_one_worker_and_reports_its_state(tmp_path, tlcompare_home, submit):
    states = []
    threads = [threading.Thread(target=lambda: states.append(ensure_worker())) for _ in range(4)]
    try:
        for t in threads:  # four tabs at once
            t.start()
        for t in threads:
            t.join()
        store = Store()
        assert len(store.list_workers()) == 1 and len({s["worker_id"] for s in states}) == 1
        first = states[0]["worker_id"]
        wait_for(lambda: worker_state()["state"] == "idle", 60, "the worker to be idle")

        spec_path = write_spec(tmp_path, sizes=[2], epochs=10)
        exp_id = submit(spec_path)
        seen = wait_for(lambda: (s := worker_state())["state"] == "running" and s, 60, "the worker to run")
        assert seen["run_label"] in ("scratch · 2 per class · seed 0", "pretrained, linear probe · 2 per class · seed 0")
        assert seen["experiment_id"] == exp_id
        wait_for(lambda: store.is_finished(exp_id), 240, "the experiment")
        assert ensure_worker()["worker_id"] == first  # alive: no second worker
        log = Path(worker_state()["log_path"])
        assert log.parent == tlcompare_home / "logs" and f"run {store.experiment_runs(exp_id)[0]['run_id']}" in log.read_text()

        os.kill(worker_state()["pid"], signal.SIGKILL)
        wait_for(lambda: worker_state()["state"] == "dead", 10, "the worker to be seen dead")
        again = ensure_worker()
        assert again["worker_id"] != first and again["state"] in ("starting", "idle")
        wait_for(lambda: worker_state()["state"] == "idle", 60, "the new worker to be idle")
        stop_worker()
        wait_for(lambda: worker_state()["state"] == "stopped", 30, "the worker to stop")
    finally:
        for w in Store().list_workers():
            if w["alive"] and w["pid"]:
                os.kill(w["pid"], signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_worker_that_exits_is_reaped_not_left_a_zombie(tlcompare_home):
    started = ensure_worker(idle_exit=0.5)
    pid = started["pid"]
    try:
        # Idle for half a second, it exits; the dashboard only ever asks for the worker's state (the
        # sidebar, every few seconds): that is what must collect it.
        wait_for(lambda: worker_state()["state"] == "stopped", 90, "the idle worker to exit")
        # The store hears of the exit just before the process ends.
        wait_for(lambda: _zombie(pid) or not Path(f"/proc/{pid}").exists(), 30, "the worker process to end")
        wait_for(lambda: worker_state() and not Path(f"/proc/{pid}").exists(), 10,
                 f"worker {pid}, exited, to be reaped instead of left a zombie")
    finally:
        if worker_state()["alive"]:
            os.kill(pid, signal.SIGKILL)
