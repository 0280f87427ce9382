"""A worker inside the calling process: ``tlcompare run`` is submit + this + wait.

It trains only the given experiment's runs and returns when every one of them has ended,
including runs that another worker (the dashboard's, say) happened to claim first.
"""

from __future__ import annotations

import time

from tlcompare.store import Store
from tlcompare.worker.executors import Executor


class InProcessExecutor(Executor):
    def __init__(self, store: Store | None = None, device: str | None = None, hooks=None, log=None,
                 poll_seconds: float = 1.0):
        self.store = store or Store()
        self.device, self.hooks, self.log, self.poll_seconds = device, hooks, log, poll_seconds
        self._worker = None

    def submit(self, experiment_id: int) -> None:
        from tlcompare.worker.process import Worker  # torch is imported only when runs are executed here

        worker = self._worker = Worker(self.store, device=self.device, experiment_id=experiment_id,
                                       hooks=self.hooks, log=self.log or (lambda message: None))
        while not worker.stop.is_set():
            worker.serve(once=True)
            if self.store.is_finished(experiment_id):
                return
            # Some runs are held by other workers: wait for them, and take over any whose worker dies.
            time.sleep(self.poll_seconds)

    def workers(self) -> list[dict]:
        return []

    def shutdown(self) -> None:
        if self._worker is not None:  # from another thread: the run in progress is re-queued
            self._worker.stop.set()
