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
import sys
from dataclasses import dataclass
from pathlib import Path

from tlcompare.estimate.runtime import (
    Throughput,
    cache_key,
    cached_entry,
    cached_throughput,
    forget_throughput,
)
from tlcompare.home import subdir
from tlcompare.threads import record_wait_policy
from tlcompare.worker.procs import LockedJobs, last_line

_jobs = LockedJobs()
_started = _jobs.started  # the probes this process started


@dataclass(frozen=True)
class ProbeState:
    throughput: Throughput | None  # the measurement, when there is one
    failed: str | None = None  # why the last measurement of this combination failed


def _paths(model: str, image_size: int, batch_size: int, device: str) -> tuple[Path, Path]:
    name = hashlib.sha256(cache_key(model, image_size, batch_size, device).encode()).hexdigest()[:16]
    folder = subdir("cache", "probes")
    return folder / f"{name}.lock", folder / f"{name}.log"



def throughput_or_start(model: str, image_size: int, batch_size: int, device: str = "auto",
                        remeasure: bool = False) -> ProbeState:
    """The cached probe result, or start measuring it in the background and say so (``None``)."""
    _jobs.reap()
    lock, log = _paths(model, image_size, batch_size, device)
    if remeasure and not _jobs.running(lock):
        forget_throughput(model, image_size, batch_size, device)
    tp = cached_entry(model, image_size, batch_size, device)
    if tp is not None:
        return ProbeState(tp)
    if _jobs.running(lock):
        return ProbeState(None)
    if log.exists() and not remeasure and not lock.exists():
        return ProbeState(None, failed=_last_line(log))
    _jobs.start(lock, log, "tlcompare.estimate.background", model, str(image_size), str(batch_size), device)
    return ProbeState(None)  # started here, or by another tab just now


def _last_line(log: Path) -> str:
    return last_line(log, "the measurement stopped without a message")


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
    record_wait_policy()  # before the probe imports torch: the probe measures what the runs will get
    sys.exit(_main(*sys.argv[1:5]))
