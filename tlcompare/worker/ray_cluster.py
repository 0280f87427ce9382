"""The Ray executor as the dashboard and scripts see it: start, watch and stop the Ray driver.

The driver (``ray_driver.RayWorker``, a ``tlcompare worker --executor ray`` process) does the work;
this side only launches it and reads the store, so the process calling it never imports ray (Ray
replaces the caller's SIGTERM handler, and Streamlit runs pages outside the main thread).
"""

from __future__ import annotations

from tlcompare.store import Store
from tlcompare.worker.control import ensure_ray_worker, ray_cluster, stop_worker
from tlcompare.worker.executors import Executor


class RayExecutor(Executor):
    def __init__(self, address: str | None = None, runs_per_gpu: int = 1, store: Store | None = None):
        self.address, self.runs_per_gpu = address, runs_per_gpu
        self.store = store or Store()

    def submit(self, experiment_id: int | None = None) -> None:
        ensure_ray_worker(self.address, self.runs_per_gpu, self.store)

    def workers(self) -> list[dict]:
        cluster = ray_cluster(self.store)
        return [] if cluster is None else [{"host": host, **slot} for host, slots in cluster["nodes"].items()
                                           for slot in slots]

    def shutdown(self) -> None:
        cluster = ray_cluster(self.store)
        if cluster is not None:
            stop_worker(cluster["worker_id"], self.store)
