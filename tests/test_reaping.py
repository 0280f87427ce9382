"""A worker the dashboard started and someone stopped (SIGTERM) is collected at once, not at the next page visit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tlcompare.worker import procs


def _state(pid: int) -> str | None:
    """The process state letter from /proc ('Z' for a zombie), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_a_stopped_worker_is_collected_without_anyone_asking():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    procs.remember_child(child)
    os.kill(child.pid, signal.SIGTERM)
    deadline = time.time() + 20
    while _state(child.pid) is not None and time.time() < deadline:
        time.sleep(0.05)
    assert _state(child.pid) is None  # not 'Z': no page visit, no reap_children() call collected it
    assert child.returncode == -signal.SIGTERM and child.pid not in procs._children
    assert not procs.pid_alive(child.pid)
