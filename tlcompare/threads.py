"""How many CPU threads a run trains with, and how its idle threads wait.

On a machine that other programs keep busy, torch's OpenMP threads wait at every barrier for a
sibling thread that has no core; a run with more threads than free cores pays for it at every step.
So at the start of each CPU run ``choose_run_threads`` counts the cores other programs keep busy
(over a fifth of a second, from ``/proc/stat``, this process's own CPU time left out) and gives
torch the cores that are free, at least one.

How idle threads wait (``OMP_WAIT_POLICY``) is left to OpenMP's default (spin a while, then sleep):
measured on a 2-core machine (docs/benchmarks.md, "threads under contention"), ``PASSIVE`` made every
step 1.8x slower on a quiet machine and gained nothing beside a CPU hog, where the run gets one
thread and no thread waits. OpenMP reads the variable once, when torch loads, so
``record_wait_policy`` notes it at process start (the CLI, the worker, the throughput probe) for
the record each run keeps.

A user's own ``OMP_WAIT_POLICY`` and ``OMP_NUM_THREADS`` / ``TLCOMPARE_THREADS`` are used as given. This
module imports no torch: the CLI calls it before torch exists.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass

WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
# A fixed thread count: the user's (TLCOMPARE_THREADS), else OpenMP's own variable, which torch reads.
THREADS_VARS = ("TLCOMPARE_THREADS", "OMP_NUM_THREADS")
SAMPLE_SECONDS = 0.2  # long enough for 20 clock ticks per core; short beside a run's seconds

# What torch's OpenMP saw when it loaded, once record_wait_policy has run (None: not known here).
_policy_at_start: str | None = None


def record_wait_policy() -> None:
    """Note how OpenMP's idle threads will wait: the environment's ``OMP_WAIT_POLICY``, else OpenMP's
    default. Only before torch is imported: after, the variable may have changed since OpenMP read it.
    """
    global _policy_at_start
    if "torch" in sys.modules:
        return
    _policy_at_start = os.environ.get(WAIT_POLICY_VAR) or "default"


def wait_policy() -> str:
    """How this process's OpenMP threads wait: the variable as torch read it, or 'default' (spin, then sleep)."""
    if _policy_at_start is not None:
        return _policy_at_start.upper()
    # Not set here: a process that never changed the variable after torch loaded still shows what it read.
    return os.environ.get(WAIT_POLICY_VAR, "default").upper() or "DEFAULT"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask: taskset and container cpusets count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far, from /proc/stat (None where there is none)."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def others_busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores other processes keep busy now (None where the machine does not say)."""
    busy0, own0, t0 = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    if busy0 is None:
        return None
    time.sleep(seconds)
    busy1, own1, wall = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter() - t0
    return max(0.0, (busy1 - busy0 - (own1 - own0)) / wall)


def threads_for(cores: int, others_busy: float | None) -> int:
    """The intra-op threads for a run: the cores others leave free (a core more than half free
    counts), at least one, at most ``cores``; all of them when the load is not known."""
    if others_busy is None:
        return cores
    return max(1, min(cores, math.floor(cores - others_busy + 0.5)))


def fixed_threads() -> int | None:
    """The thread count the user fixed in the environment, if any."""
    for var in THREADS_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value.split(",")[0])  # OMP_NUM_THREADS may list one count per nesting level
            except ValueError:
                continue
            if n >= 1:
                return n
    return None


@dataclass(frozen=True)
class ThreadChoice:
    """What a run was given, recorded with it: timings mean little without it."""

    threads: int
    wait_policy: str
    cores: int
    others_busy_cores: float | None  # None: fixed by the user, or not measurable here
    fixed_by_user: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def choose_run_threads(device_type: str = "cpu") -> ThreadChoice:
    """Give torch this run's intra-op threads (CPU runs: the free cores) and say what was chosen.

    A GPU run keeps torch's count: its CPU work is launching kernels, and the sampling would cost
    every short run a fifth of a second.
    """
    import torch

    cores = usable_cores()
    fixed = fixed_threads()
    others = None
    if fixed is not None:
        threads = fixed
    elif device_type == "cpu":
        others = others_busy_cores()
        threads = threads_for(cores, others)
    else:
        threads = torch.get_num_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return ThreadChoice(threads=threads, wait_policy=wait_policy(), cores=cores,
                        others_busy_cores=None if others is None else round(others, 2),
                        fixed_by_user=fixed is not None)
