"""The worker: claims queued runs from the store and trains them, one at a time, on one device.

It runs as its own process (``tlcompare worker``, or started for the dashboard by
``worker_control.ensure_worker``), so a closed tab or a crashed page never kills training.
Everything it learns reaches the store as it happens: each epoch's row when the epoch ends, the
run's result and artifacts in one transaction when the run ends. Several workers may share one
store (one per GPU, say): claims are atomic, and a background thread heartbeats so that a worker
that dies (kill -9, out of memory, power) is noticed and its run re-queued by the next worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tlcompare.content_keys import check_unchanged
from tlcompare.data.splits import check_sizes
from tlcompare.errors import UserError
from tlcompare.spec import RunSpec
from tlcompare.store import LostRun, Store
from tlcompare.store.analyses import keep_when_finished
from tlcompare.store.headlines import store_when_finished
from tlcompare.store.queue import DEFAULT_STALE_AFTER
from tlcompare.threads import choose_run_threads
from tlcompare.train import DeviceData, prepare, resolve_device, train_run
from tlcompare.train.experiment import environment
from tlcompare.worker.procs import new_worker_id
from tlcompare.worker.settings import seconds


@dataclass
class WorkerConfig:
    heartbeat_seconds: float = 2.0
    stale_after: float = DEFAULT_STALE_AFTER  # heartbeat age at which another worker's run is recovered
    poll_seconds: float = 1.0  # how often an idle worker looks for work
    cancel_check_seconds: float = 0.5  # how often, at most, a training step asks the store about cancels
    idle_exit: float | None = None  # exit after this many seconds with nothing to do (None: never)

    @classmethod
    def from_env(cls, **overrides) -> WorkerConfig:
        # Tests and impatient users shorten the timings without new flags.
        env = {"heartbeat_seconds": "TLCOMPARE_HEARTBEAT_SECONDS", "stale_after": "TLCOMPARE_STALE_SECONDS",
               "poll_seconds": "TLCOMPARE_POLL_SECONDS"}
        values = {key: seconds(os.environ[var], var) for key, var in env.items() if os.environ.get(var)}
        values.update({k: seconds(v, f"--{k.replace('_', '-')}") for k, v in overrides.items() if v is not None})
        return cls(**values)



@dataclass
class WorkerHooks:
    """Observers for a worker that runs inside another command (``tlcompare run`` prints with them).

    They see what the store receives; they never replace it.
    """

    on_run_start: Callable[[dict], None] | None = None  # (claimed run)
    on_epoch: Callable[[dict, dict], None] | None = None  # (claimed run, epoch record)
    on_run_end: Callable[[dict, dict], None] | None = None  # (claimed run, outcome: status, final, error)


def _log_stderr(message: str) -> None:
    """A worker's line in its log: through the one logging setup (timestamped, on stderr)."""
    from tlcompare.logs import setup

    setup().getChild("worker").info(message)


class _Heartbeat(threading.Thread):
    """Says every few seconds that the worker lives and how far its run is, on its own connection.

    A thread, not the training loop, so a long evaluation or a slow first CUDA call does not make
    the worker look dead. It also carries stop requests (``tlcompare workers --stop``) back.
    """

    def __init__(self, store_path: Path, worker_id: str, every: float, stop: threading.Event, log):
        super().__init__(name="tlcompare-heartbeat", daemon=True)
        self.store_path, self.worker_id, self.every, self.stop, self.log = store_path, worker_id, every, stop, log
        self.current: tuple[int, int] | None = None  # (run id, attempt)
        self.steps: tuple[int, int] | None = None  # (step, total steps)
        self._halt = threading.Event()

    def set_run(self, run_id: int | None, attempt: int | None = None) -> None:
        self.steps = None  # reset before the run changes, so one run's steps never land on the next
        self.current = (run_id, attempt) if run_id is not None else None

    def progress(self, step: int, total: int) -> None:
        self.steps = (step, total)

    def run(self) -> None:
        store = Store(self.store_path)
        try:
            while not self._halt.wait(self.every):
                current, steps = self.current, self.steps
                run_id, attempt = current or (None, None)
                step, total = steps or (None, None)
                try:
                    if store.worker_heartbeat(self.worker_id, run_id, attempt, step, total):
                        self.stop.set()
                except Exception as e:  # keep beating: a missed beat is harmless, a dead thread is not
                    self.log(f"heartbeat failed: {type(e).__name__}: {e}")
        finally:
            store.close()

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=10)


class _DataCache:
    """The last prepared dataset on the device: the runs of one experiment follow each other, and
    preparing (decode, resize, upload) once is what makes small runs cheap. One entry only, so
    a GPU never holds two datasets."""

    def __init__(self):
        self.key: tuple | None = None
        self.data: DeviceData | None = None

    def get(self, run: RunSpec, device) -> DeviceData:
        spec = run.experiment
        key = (spec.dataset, spec.source_key, spec.data_root, spec.image_size, spec.val_fraction,
               spec.test_fraction, spec.split_seed, str(device))
        if key != self.key or self.data is None:
            self.key = self.data = None  # drop the old tensors before the new ones are made
            # Check only this run's size: a size too large for the pool fails its own runs, not all.
            self.data = prepare(replace(spec, sizes=(run.size,)), device)
            self.key = key
        else:
            check_sizes(self.data.splits, (run.size,))
        return self.data


class _Stopper:
    """``should_stop`` for train_run. It is called every step, so it asks the store at most every
    ``every`` seconds; a cancel therefore lands within about that time plus one step."""

    def __init__(self, store: Store, run_id: int, worker_id: str, attempt: int, stop: threading.Event, every: float):
        self.store, self.run_id, self.worker_id, self.attempt, self.stop, self.every = (
            store, run_id, worker_id, attempt, stop, every)
        self.reason: str | None = None  # "cancel" (user), "lost" (run taken away), "stop" (worker stopping)
        self._next = 0.0

    def __call__(self) -> bool:
        if self.reason is None and self.stop.is_set():
            self.reason = "stop"
        now = time.monotonic()
        if self.reason is None and now >= self._next:
            self._next = now + self.every
            state = self.store.run_control(self.run_id, self.worker_id, self.attempt)
            if state != "ok":
                self.reason = state
        return self.reason is not None


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Worker:
    def __init__(self, store: Store, device: str | None = None, worker_id: str | None = None, slot: str | None = None,
                 experiment_id: int | None = None, config: WorkerConfig | None = None, hooks: WorkerHooks | None = None,
                 log: Callable[[str], None] | None = None):
        """``device`` overrides each experiment's own device setting (one worker per GPU);
        ``experiment_id`` limits the worker to one experiment (``tlcompare run``)."""
        self.store = store
        self.device = device
        self.id = worker_id or new_worker_id()
        self.slot = slot
        self.experiment_id = experiment_id
        self.config = config or WorkerConfig.from_env()
        self.hooks = hooks or WorkerHooks()
        self.log = log or (lambda message: _log_stderr(f"worker {self.id}: {message}"))
        self.stop = threading.Event()
        self._cache = _DataCache()
        self._heart: _Heartbeat | None = None

    def install_signal_handlers(self) -> None:
        """SIGTERM or Ctrl-C: stop at the next step and put the current run back in the queue."""

        def handle(signum, frame):
            self.log(f"received {signal.Signals(signum).name}: stopping; the current run goes back to the queue")
            self.stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def serve(self, once: bool = False) -> int:
        """Claim and train runs until stopped; with ``once``, until nothing is left queued.

        Returns the number of runs this worker executed.
        """
        cfg = self.config
        self.store.register_worker(self.id, self.device, self.slot, experiment_id=self.experiment_id)
        self._heart = _Heartbeat(self.store.path, self.id, cfg.heartbeat_seconds, self.stop, self.log)
        self._heart.start()
        self.log(f"started (pid {os.getpid()}, device {self.device or 'per experiment'}, store {self.store.path})")
        executed = 0
        idle_since = time.monotonic()
        try:
            while not self.stop.is_set():
                for r in self.store.recover_stale(cfg.stale_after):
                    self.log(f"run {r['run_id']}: its worker {r['worker_id']} died; now {r['status']}")
                claimed = self.store.claim(self.id, self.experiment_id)
                if claimed is None:
                    if once and not self.store.has_pending(self.experiment_id) and not self.store.may_queue_more(self.experiment_id):
                        break
                    if cfg.idle_exit is not None and time.monotonic() - idle_since > cfg.idle_exit:
                        self.log(f"idle for {cfg.idle_exit:.0f} s; exiting")
                        break
                    self.stop.wait(cfg.poll_seconds)
                    continue
                self.execute(claimed)
                executed += 1
                idle_since = time.monotonic()
        finally:
            self._heart.halt()
            self.store.worker_exited(self.id)
            self.log(f"exited after {executed} run(s)")
        return executed

    def execute(self, claimed: dict) -> dict:
        """Train one claimed run and record how it ended; never raises for a failed run."""
        run_id, attempt = claimed["run_id"], claimed["attempt"]
        self._heart.set_run(run_id, attempt)
        self.log(f"run {run_id} ({claimed['label']}, experiment {claimed['experiment_id']}): attempt {attempt}")
        if self.hooks.on_run_start:
            self.hooks.on_run_start(claimed)
        try:
            outcome = self._train(claimed)
        except LostRun:
            outcome = {"status": "lost", "final": {}, "error": "the run was deleted or taken over by another worker"}
        except UserError as e:
            outcome = self._fail(claimed, _one_line(str(e)), traceback.format_exc(), user_error=True)
        except Exception as e:
            outcome = self._fail(claimed, _one_line(f"{type(e).__name__}: {e}"), traceback.format_exc())
        except BaseException:
            # Ctrl-C inside `tlcompare run`, or SystemExit: hand the run back before leaving.
            with contextlib.suppress(Exception):
                self.store.interrupt_run(run_id, self.id, attempt, "interrupted by the user; re-queued")
            raise
        finally:
            self._heart.set_run(None)
        self.log(f"run {run_id}: {outcome['status']}" + (f": {outcome['error']}" if outcome.get("error") else ""))
        with contextlib.suppress(Exception):  # a headline not kept now is computed by its first reader
            store_when_finished(self.store, claimed["experiment_id"])
        with contextlib.suppress(Exception):  # so is the multiplier (Results computes and keeps it)
            keep_when_finished(self.store, claimed["experiment_id"])
        if self.hooks.on_run_end:
            self.hooks.on_run_end(claimed, outcome)
        return outcome

    def _train(self, claimed: dict) -> dict:
        run_id, attempt = claimed["run_id"], claimed["attempt"]
        run = claimed["run"]
        spec = run.experiment
        if run.config_hash() != claimed["config_hash"]:
            raise UserError("this run was queued by a tlcompare version with other defaults; submit the experiment again")
        check_unchanged(spec, run.arm)
        device = resolve_device(self.device or spec.device)
        data = self._cache.get(run, device)
        # After preparing the data (this process's own work), before the run: the cores free now.
        choice = choose_run_threads(device.type)
        self.store.run_started(run_id, self.id, attempt, str(device), environment(device, data, choice))
        stopper = _Stopper(self.store, run_id, self.id, attempt, self.stop, self.config.cancel_check_seconds)

        def on_epoch(record: dict) -> None:
            self.store.add_epoch(run_id, self.id, attempt, record)
            if self.hooks.on_epoch:
                self.hooks.on_epoch(claimed, record)

        result = train_run(run, data, device, on_epoch=on_epoch, should_stop=stopper, on_step=self._heart.progress)
        result.thread_choice = choice.to_dict()
        if result.status == "cancelled" and stopper.reason == "lost":
            raise LostRun(run_id)
        if result.status == "cancelled" and stopper.reason == "stop":
            self.store.interrupt_run(run_id, self.id, attempt, "the worker was stopped; re-queued")
            return {"status": "interrupted", "final": {}, "error": "the worker was stopped"}
        self.store.finish_run(run_id, self.id, attempt, result.to_dict())
        return {"status": result.status, "final": result.final, "error": result.error}

    def _fail(self, claimed: dict, error: str, tb: str, user_error: bool = False) -> dict:
        with contextlib.suppress(LostRun):
            self.store.fail_run(claimed["run_id"], self.id, claimed["attempt"], error, tb)
        return {"status": "failed", "final": {}, "error": error, "user_error": user_error}
