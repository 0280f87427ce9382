"""The device training would use, in two lines for the dashboard's sidebar, without importing torch.

A short-lived child process answers (importing torch into the dashboard would add about 550 MB for
two lines of text), and the answer is kept in the cache, keyed by everything that decides it: the
interpreter and its torch build, the GPU device files the system shows, the variables that hide
GPUs or set thread counts, and the CPUs this process may use. A new driver, card, torch or setting
asks again; the same machine starts its dashboard without waiting seconds for the child.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata

from tlcompare.home import cache_dir

PROBE = """
import json, torch
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    n = torch.cuda.device_count()
    print(json.dumps({"gpu": True, "name": p.name + (f" (+{n - 1} more)" if n > 1 else ""),
                      "detail": f"{p.total_memory / 2**30:.0f} GiB GPU memory"}))
else:
    t = torch.get_num_threads()
    print(json.dumps({"gpu": False, "name": "CPU only", "detail": f"{t} thread{'s' if t > 1 else ''} · no GPU found"}))
"""
UNKNOWN = {"gpu": False, "name": "unknown", "detail": "the device could not be looked up (is torch installed?)"}
ENVIRONMENT = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
               "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def key() -> str:
    """What the answer depends on, read without importing torch."""
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count()
    return json.dumps({"python": sys.executable, "torch": torch_version, "cpus": cpus,
                       "devices": sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/kfd")),
                       "env": {k: os.environ.get(k) for k in ENVIRONMENT}}, sort_keys=True)


def device_summary() -> dict:
    """``{"gpu": bool, "name": ..., "detail": ...}``: from the cache, else asked of a child process."""
    k, cache = key(), _read()
    if k in cache:
        return cache[k]
    try:
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return UNKNOWN  # not kept: the next start asks again
    _write({**_read(), k: answer})
    return answer


def _path():
    return cache_dir() / "device.json"


def _read() -> dict:
    try:
        cache = json.loads(_path().read_text())
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(cache: dict) -> None:
    path = _path()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f, indent=1)
        os.replace(tmp, path)  # atomic: two dashboards starting at once never leave half a file
    except OSError:
        pass  # a cache that cannot be written costs the next start the child process, nothing else
