"""How queued runs get executed, behind one interface.

Every executor runs ``tlcompare.worker.process.Worker`` somewhere, and the worker is the only code that
writes results to the store; executors differ only in where and how many workers live:

- ``LocalExecutor``: worker processes on this machine, one or several per device.
- ``InProcessExecutor``: a worker inside the calling process (``tlcompare run``).
- ``RayExecutor``: one driver process (``tlcompare worker --executor ray``) that stays the store's
  only writer and dispatches runs to long-lived actors on a Ray cluster (docs/scale-out.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Executor(ABC):
    @abstractmethod
    def submit(self, experiment_id: int) -> None:
        """Make sure the queued runs of this experiment will be executed."""

    @abstractmethod
    def workers(self) -> list[dict]:
        """The state of each worker this executor looks after (see worker_control.worker_state)."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop this executor's workers; their runs in progress go back to the queue."""


def get_executor(name: str = "local", **options) -> Executor:
    if name == "local":
        from tlcompare.worker.local import LocalExecutor

        return LocalExecutor(**options)
    if name == "inprocess":
        from tlcompare.worker.inprocess import InProcessExecutor

        return InProcessExecutor(**options)
    if name == "ray":
        from tlcompare.worker.ray_cluster import RayExecutor

        return RayExecutor(**options)
    from tlcompare.errors import UserError

    raise UserError(f"unknown executor '{name}': choose local, inprocess or ray")
