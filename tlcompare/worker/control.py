"""Start a background worker for the user, and say what it is doing.

``ensure_worker()`` is what the dashboard calls: it starts ``tlcompare worker`` as a detached
process (its own session, so stopping Streamlit or closing the terminal does not stop training)
unless a live worker already serves that slot. Liveness is the pid on this host plus a fresh
heartbeat; the check and the "starting" mark are one store transaction, so two tabs calling at
once start one worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import tlcompare
from tlcompare.store import Store
from tlcompare.store.queue import DEFAULT_STALE_AFTER
from tlcompare.worker.procs import new_worker_id, reap_children, remember_child

RAY_SLOT = "ray#0"  # the dashboard's Ray driver: one per store
DRIVER_DEVICE = "ray cluster"  # the driver's row in the workers table
SLOT_DEVICE = "ray"  # the row of each run slot (one actor) the driver keeps on the cluster


def default_slot(device: str | None) -> str:
    return f"{device or 'auto'}#0"


def ensure_worker(device: str | None = None, slot: str | None = None, idle_exit: float | None = None,
                  store: Store | None = None, stale_after: float = DEFAULT_STALE_AFTER) -> dict:
    """Start a worker for ``slot`` unless one is alive; return worker_state() for that slot.

    Without a slot (the dashboard's call when an experiment is submitted), a live Ray driver serving
    this store counts as the worker: the user chose the cluster, so no local worker competes with it.
    """
    store = store or Store()
    if slot is None and device is None and ray_cluster(store, stale_after) is not None:
        return worker_state(RAY_SLOT, store, stale_after)
    slot = slot or default_slot(device)
    worker_id = new_worker_id()
    if store.reserve_worker_slot(slot, device, worker_id, stale_after) is None:
        extra = (["--device", device] if device else []) + (["--idle-exit", str(idle_exit)] if idle_exit is not None else [])
        _launch(store, worker_id, slot, extra)
    return worker_state(slot, store, stale_after)


def ensure_ray_worker(address: str | None = None, runs_per_gpu: int = 1, store: Store | None = None,
                      stale_after: float = DEFAULT_STALE_AFTER) -> dict:
    """Start ``tlcompare worker --executor ray`` unless one is alive (``address``: an existing cluster;
    none: RAY_ADDRESS, else a local cluster). This process never imports ray: the driver does."""
    store = store or Store()
    worker_id = new_worker_id()
    if store.reserve_worker_slot(RAY_SLOT, DRIVER_DEVICE, worker_id, stale_after) is None:
        # The address goes by the environment, not the command line: `ps` shows every user the
        # command line, and an address may carry a password (ray://user:secret@host:port).
        extra = ["--executor", "ray", "--runs-per-gpu", str(runs_per_gpu)]
        _launch(store, worker_id, RAY_SLOT, extra, {"RAY_ADDRESS": address} if address else None)
    return worker_state(RAY_SLOT, store, stale_after)


def ray_cluster(store: Store | None = None, stale_after: float = DEFAULT_STALE_AFTER) -> dict | None:
    """The live Ray driver and, per node, its run slots and what each runs; None without a live driver."""
    workers = (store or Store()).list_workers(stale_after)
    driver = next((w for w in workers if w["alive"] and (w["device"] or "").startswith(DRIVER_DEVICE)), None)
    if driver is None:
        return None
    nodes: dict[str, list[dict]] = {}
    for w in workers:
        if w["alive"] and w["id"].startswith(driver["id"] + "-") and w["device"]:
            words = w["device"].split()  # "ray HOST/NODE CPU pid N" or "ray HOST/NODE GPU 0 pid N"
            host = words[1] if len(words) > 2 else "starting"
            nodes.setdefault(host, []).append({
                "share": " ".join(words[2:-2]) if len(words) > 4 else "", "run_id": w["run_id"],
                "run_label": w["run_label"] if w["run_id"] else None, "state": w["state"]})
    return {"worker_id": driver["id"], "pid": driver["pid"], "summary": driver["device"], "nodes": nodes}


def _launch(store: Store, worker_id: str, slot: str, extra: list[str], more_env: dict | None = None) -> None:
    logs = store.path.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"worker-{worker_id}.log"
    cmd = [sys.executable, "-m", "tlcompare", "worker", "--db", str(store.path), "--worker-id", worker_id, "--slot", slot,
           *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(more_env or {}))
    # `-m tlcompare` must find this very package, installed or not.
    package_parent = str(Path(tlcompare.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
    except OSError:
        store.set_worker_process(worker_id, None, str(log_path), failed=True)  # free the slot for a retry
        raise
    remember_child(proc)
    store.set_worker_process(worker_id, proc.pid, str(log_path))


def worker_state(slot: str | None = None, store: Store | None = None, stale_after: float = DEFAULT_STALE_AFTER) -> dict:
    """What the worker is doing: state is running, idle, starting, stopping, stopped, dead or none.

    With ``slot`` the answer is about that slot's worker (or a hand-started one on its device);
    without, about the busiest live worker, else the most recent one.
    """
    store = store or Store()
    reap_children()  # the dashboard asks this every few seconds: no exited worker stays a zombie under it
    workers = store.list_workers(stale_after)
    if slot is not None:
        device = slot.rsplit("#", 1)[0]
        workers = [w for w in workers if w["slot"] == slot
                   or (w["slot"] is None and w["experiment_id"] is None and (w["device"] or "auto") == device)]
    alive = [w for w in workers if w["alive"]]
    if alive:
        w = max(alive, key=lambda w: (w["state"] == "running", w["heartbeat"] or 0))
        state = "stopping" if w["stop_requested"] else w["state"]
    elif workers:
        w = workers[0]
        state = "stopped" if w["state"] == "exited" else "dead"
    else:
        return {"state": "none", "alive": False, "n_alive": 0, "worker_id": None, "pid": None, "run_id": None,
                "run_label": None, "experiment_id": None, "device": None, "heartbeat_age": None, "log_path": None}
    return {
        "state": state, "alive": w["alive"], "n_alive": len(alive), "worker_id": w["id"], "pid": w["pid"],
        "host": w["host"], "run_id": w["run_id"] if state in ("running", "stopping") else None,
        "run_label": w["run_label"] if state in ("running", "stopping") else None,
        "experiment_id": w["run_experiment_id"] if state in ("running", "stopping") else None,
        "device": w["device"], "heartbeat_age": time.time() - w["heartbeat"] if w["heartbeat"] else None,
        "log_path": w["log_path"],
    }


def describe(state: dict) -> str:
    """One line for people: 'running run 12 (scratch size=5 seed=0), pid 4242'."""
    if state["state"] == "none":
        return "no worker has run yet"
    where = f"worker {state['worker_id']} (pid {state['pid']})"
    if state["state"] in ("running", "stopping"):
        return f"{where}: {state['state']} run {state['run_id']} ({state['run_label']}) of experiment {state['experiment_id']}"
    return f"{where}: {state['state']}"


def stop_worker(worker_id: str | None = None, store: Store | None = None) -> int:
    """Ask a worker (default: every live one) to stop; its run in progress is re-queued, not lost."""
    return (store or Store()).request_worker_stop(worker_id)
