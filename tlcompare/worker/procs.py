"""Is a worker process still alive? Its heartbeat says so from anywhere; its pid, only on its host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HOST = socket.gethostname()

# Workers this process started: polling them reaps a finished child, which would otherwise stay
# a zombie that os.kill(pid, 0) reports as alive.
_children: dict[int, subprocess.Popen] = {}


def remember_child(proc: subprocess.Popen) -> None:
    """Keep a worker this process started; a thread waits on it, so it is collected the moment it exits
    (stopped with SIGTERM, idle exit, a crash) and never stays a zombie until someone next looks."""
    _children[proc.pid] = proc
    threading.Thread(target=_collect, args=(proc,), name=f"collect-{proc.pid}", daemon=True).start()


def _collect(proc: subprocess.Popen) -> None:
    proc.wait()  # Popen.wait is safe beside poll() in other threads
    _children.pop(proc.pid, None)


def reap_children() -> None:
    """Collect every worker this process started that has exited (it is a zombie until then).

    A worker that leaves on its own (idle exit, stop) is marked exited in the store and never
    asked about by pid again, so waiting only in ``pid_alive`` would leave it a zombie.
    """
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]  # reaped: from now on its pid is gone like any other
        return False
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate the process on Windows; trust the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(row: dict, now: float, stale_after: float, start_grace: float = 120.0) -> bool:
    """Decide from a ``workers`` row; a worker on another host is judged by its heartbeat alone."""
    if row.get("state") in ("exited", "dead"):
        return False
    if row.get("host") == HOST and row.get("pid") and not pid_alive(row["pid"]):
        return False
    if row.get("heartbeat") is None:
        # Launched but still importing torch: give it time before calling it dead.
        return row.get("state") == "starting" and now - row["started_at"] < start_grace
    return now - row["heartbeat"] <= stale_after


def new_worker_id() -> str:
    return f"{HOST}-{uuid.uuid4().hex[:8]}"


class LockedJobs:
    """Child processes that each answer one question (a throughput probe, a dataset's facts), at most
    one per lock file, so two tabs or two reruns asking the same question start one process. The
    child removes its lock when done; a failed one leaves its output in the log beside the lock.
    Children this process started are polled on every look, so a finished one is reaped, never a
    zombie."""

    def __init__(self, stale_seconds: float):
        self.stale_seconds = stale_seconds  # a lock older than this was left by a process that died with its machine
        self.started: dict[int, subprocess.Popen] = {}

    def reap(self) -> None:
        for pid, proc in list(self.started.items()):
            if proc.poll() is not None:
                del self.started[pid]

    def running(self, lock: Path) -> bool:
        try:
            pid = int(lock.read_text() or 0)
            age = time.time() - lock.stat().st_mtime
        except (OSError, ValueError):
            return False
        # Just created by another tab, pid not written yet: running; otherwise the pid decides.
        alive = self.started[pid].poll() is None if pid in self.started else pid_alive(pid)
        return age < self.stale_seconds and (pid == 0 and age < 10 or alive)

    def start(self, lock: Path, log: Path, module: str, *args: str) -> bool:
        """Run ``python -m module args`` in the background, its output in ``log``; False when another
        process took the lock first (it is answering the same question)."""
        import tlcompare

        lock.unlink(missing_ok=True)  # a stale lock of a process that died
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        package_parent = str(Path(tlcompare.__file__).resolve().parent.parent)  # `-m` finds this very package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.started[proc.pid] = proc
        lock.write_text(str(proc.pid))
        return True


def last_line(log: Path, silent: str) -> str:
    """The last line a failed job printed (``silent`` when it printed nothing)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else silent
