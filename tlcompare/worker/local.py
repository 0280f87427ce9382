"""Worker processes on this machine: ``per_device`` workers on each device.

Several workers per GPU pay off when runs are small (a tiny model at 32 px leaves most of an H100
idle); one per GPU is right for large ones. Each worker is its own detached process, so the
executor can be created again by a later page load and finds the same workers through the store.
"""

from __future__ import annotations

from collections.abc import Sequence

from tlcompare.store import Store
from tlcompare.worker.control import ensure_worker, stop_worker, worker_state
from tlcompare.worker.executors import Executor


class LocalExecutor(Executor):
    def __init__(self, devices: Sequence[str | None] = (None,), per_device: int = 1, idle_exit: float | None = None,
                 store: Store | None = None):
        """``devices``: e.g. ["cuda:0", "cuda:1"]; None lets each experiment's own device setting decide."""
        self.devices = list(devices) or [None]
        self.per_device = max(1, per_device)
        self.idle_exit = idle_exit
        self.store = store or Store()

    def slots(self) -> list[tuple[str, str | None]]:
        return [(f"{device or 'auto'}#{i}", device) for device in self.devices for i in range(self.per_device)]

    def submit(self, experiment_id: int | None = None) -> None:
        # Workers take any queued run, so the experiment needs no routing: only enough workers.
        for slot, device in self.slots():
            ensure_worker(device, slot, self.idle_exit, self.store)

    def workers(self) -> list[dict]:
        return [worker_state(slot, self.store) for slot, _ in self.slots()]

    def shutdown(self) -> None:
        for state in self.workers():
            if state["alive"]:
                stop_worker(state["worker_id"], self.store)
