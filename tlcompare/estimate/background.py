"""The throughput probe in its own process, so a form that needs an estimate never waits for one.

``throughput_or_start`` answers from the disk cache at once; when the combination (device, model,
image size, batch size) is new it starts ``python -m tlcompare.estimate.background ...`` and answers
"measuring": the caller shows that and asks again later. A lock file per combination keeps two
tabs (or two reruns) from measuring the same thing twice; the process writes the cache through
``estimate.save_throughput`` and removes its lock. A failed measurement leaves its last line in a
log beside the lock, and the caller shows it instead of measuring forever.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tlcompare
from tlcompare.estimate.runtime import (
    Throughput,
    cache_key,
    cached_entry,
    cached_throughput,
    forget_throughput,
)
from tlcompare.home import subdir
from tlcompare.worker.procs import pid_alive

# A probe takes seconds; one older than this was killed with its machine and is measured again.
STALE_LOCK_SECONDS = 300
# Probes this process started: polled on every call, so a finished one is reaped, never a zombie.
_started: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class ProbeState:
    throughput: Throughput | None  # the measurement, when there is one
    failed: str | None = None  # why the last measurement of this combination failed


def _paths(model: str, image_size: int, batch_size: int, device: str) -> tuple[Path, Path]:
    name = hashlib.sha256(cache_key(model, image_size, batch_size, device).encode()).hexdigest()[:16]
    folder = subdir("cache", "probes")
    return folder / f"{name}.lock", folder / f"{name}.log"


def _running(lock: Path) -> bool:
    try:
        pid = int(lock.read_text() or 0)
        age = time.time() - lock.stat().st_mtime
    except (OSError, ValueError):
        return False
    # Just created by another tab, pid not written yet: running; otherwise the pid decides.
    alive = _started[pid].poll() is None if pid in _started else pid_alive(pid)
    return age < STALE_LOCK_SECONDS and (pid == 0 and age < 10 or alive)


def _reap() -> None:
    for pid, proc in list(_started.items()):
        if proc.poll() is not None:
            del _started[pid]


def throughput_or_start(model: str, image_size: int, batch_size: int, device: str = "auto",
                        remeasure: bool = False) -> ProbeState:
    """The cached probe result, or start measuring it in the background and say so (``None``)."""
    _reap()
    lock, log = _paths(model, image_size, batch_size, device)
    if remeasure and not _running(lock):
        forget_throughput(model, image_size, batch_size, device)
    tp = cached_entry(model, image_size, batch_size, device)
    if tp is not None:
        return ProbeState(tp)
    if _running(lock):
        return ProbeState(None)
    if log.exists() and not remeasure and not lock.exists():
        return ProbeState(None, failed=_last_line(log))
    lock.unlink(missing_ok=True)  # a stale lock of a process that died
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return ProbeState(None)  # another tab started it just now
    os.close(fd)
    log.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    package_parent = str(Path(tlcompare.__file__).resolve().parent.parent)  # `-m` finds this very package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "tlcompare.estimate.background", model, str(image_size), str(batch_size), device]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    _started[proc.pid] = proc
    lock.write_text(str(proc.pid))
    return ProbeState(None)


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "the measurement stopped without a message"


def _main(model: str, image_size: str, batch_size: str, device: str) -> int:
    lock, log = _paths(model, int(image_size), int(batch_size), device)
    try:
        cached_throughput(model, int(image_size), int(batch_size), device, remeasure=True)
    except Exception as e:  # one line for the form; the log keeps it for the next look
        print(f"{type(e).__name__}: {e}", flush=True)
        return 1
    finally:
        lock.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:5]))
