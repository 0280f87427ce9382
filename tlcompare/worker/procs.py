"""Is a worker process still alive? Its heartbeat says so from anywhere; its pid, only on its host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

HOST = socket.gethostname()

# Workers this process started: polling them reaps a finished child, which would otherwise stay
# a zombie that os.kill(pid, 0) reports as alive.
_children: dict[int, subprocess.Popen] = {}


def remember_child(proc: subprocess.Popen) -> None:
    _children[proc.pid] = proc


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
