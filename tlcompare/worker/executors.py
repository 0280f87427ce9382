"""How queued runs get executed, behind one interface.

Every executor runs ``tlcompare.worker.process.Worker`` somewhere, and the worker is the only code that
writes results to the store; executors differ only in where and how many workers live:

- ``LocalExecutor``: worker processes on this machine, one or several per device.
- ``InProcessExecutor``: a worker inside the calling process (``tlcompare run``).
- ``RayExecutor``: one driver process (``tlcompare worker --executor ray``) that stays the store's
  only writer and dispatches runs to long-lived actors on a Ray cluster (docs/scale-out.md).

Each face picks its executor where it knows which one it needs (`tlcompare run`: in-process;
`tlcompare workers --start`: local; the sidebar's Ray panel: Ray), so there is no lookup by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Executor(ABC):
    @abstractmethod
    def submit(self, experiment_id: int) -> None:
        """Make sure the queued runs of this experiment will be executed."""

    @abstractmethod
    def workers(self) -> list[dict]:
        """The state of each worker this executor looks after (see worker/control.py, worker_state)."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop this executor's workers; their runs in progress go back to the queue."""
