"""The background jobs' locks (worker/procs.LockedJobs) are OS file locks: of many processes asking
at the same instant exactly one starts the job, and a holder killed with -9 lets go of its lock."""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, wait_for

from tlcompare.worker.procs import LockedJobs, held

# A job that holds its lock until it is killed.
HOLDER = "import time\nprint('holding', flush=True)\ntime.sleep(600)\n"

# One process asking for the job: waits for the starting signal (a file), then asks once.
ASK = """
import os, sys, time
from pathlib import Path
from tlcompare.worker.procs import LockedJobs
lock, log, go = map(Path, sys.argv[1:4])
while not go.exists():
    time.sleep(0.001)
jobs = LockedJobs()
print(jobs.start(lock, log, "lock_holder"), list(jobs.started), flush=True)
"""


@pytest.fixture
def job(tmp_path, monkeypatch):
    """(lock, module folder): a job module ``lock_holder`` on the path of every process started here."""
    (tmp_path / "lock_holder.py").write_text(HOLDER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(REPO)]))
    holders: list[int] = []
    yield tmp_path / "job.lock", holders
    for pid in holders:  # whatever a test left holding a lock
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def ask(lock: Path, log: Path, go: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ASK, str(lock), str(log), str(go)], stdout=subprocess.PIPE, text=True)


def answer(proc: subprocess.Popen) -> tuple[bool, list[int]]:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    started, pids = out.split(" ", 1)
    return started == "True", json.loads(pids)


def test_of_many_processes_asking_at_once_exactly_one_starts_the_job(job, tmp_path):
    lock, holders = job
    go = tmp_path / "go"
    askers = [ask(lock, tmp_path / f"job-{i}.log", go) for i in range(6)]
    go.touch()  # all of them ask now
    answers = [answer(p) for p in askers]
    for _, pids in answers:
        holders.extend(pids)
    assert sum(started for started, _ in answers) == 1, answers
    assert held(lock)


def test_a_killed_holder_lets_go_and_the_next_process_starts_the_job(job, tmp_path):
    lock, holders = job
    jobs = LockedJobs()
    assert jobs.start(lock, tmp_path / "first.log", "lock_holder")
    (first,) = jobs.started.values()
    holders.append(first.pid)
    wait_for(lambda: "holding" in (tmp_path / "first.log").read_text(), 120, "the job to start")
    assert held(lock) and jobs.running(lock)
    assert int(lock.read_text()) == first.pid  # who holds it, for whoever looks at the file

    go = tmp_path / "go"
    go.touch()
    started, _ = answer(ask(lock, tmp_path / "second.log", go))  # another process: the job is taken
    assert not started

    first.send_signal(signal.SIGKILL)  # no clean-up code runs: the lock file stays, unlocked
    first.wait(timeout=60)
    assert lock.exists() and not held(lock) and not jobs.running(lock)
    started, pids = answer(ask(lock, tmp_path / "second.log", go))
    holders.extend(pids)
    assert started and held(lock)


def test_a_job_that_removes_its_lock_file_when_done_leaves_it_free(job, tmp_path):
    lock, _ = job
    (tmp_path / "lock_holder.py").write_text(f"from pathlib import Path\nPath({str(lock)!r}).unlink()\n")
    jobs = LockedJobs()
    assert jobs.start(lock, tmp_path / "job.log", "lock_holder")
    (proc,) = jobs.started.values()
    proc.wait(timeout=120)
    assert not lock.exists() and not held(lock)  # the pid written after the start did not bring it back
    assert jobs.start(lock, tmp_path / "job.log", "lock_holder")  # free again
    for p in jobs.started.values():
        p.wait(timeout=120)
