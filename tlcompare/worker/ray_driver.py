"""Runs on a Ray cluster: ``tlcompare worker --executor ray [--address ADDR]``.

This process (the driver) stays the only writer of the SQLite store: a store file cannot be shared
across machines, and writers on several nodes would fight over its lock. It keeps one long-lived
``RunActor`` per slot of the cluster (1/K of a GPU each with ``runs_per_gpu`` K, else one CPU), and one
thread per slot that claims a run, hands it to its actor and writes what the actor streams back:
the epochs as they end (the Live page updates as with local runs), then the result.

What travels: the decoded dataset goes into Ray's object store once per experiment, and the
checkpoint bytes once per checkpoint, so a node needs neither the user's folder nor internet.
Faults: an actor that dies mid-run is replaced and its run re-queued (the same seed gives the same
result); after MAX_CRASHES deaths the run fails with the reason. A driver killed outright leaves
its runs "running" with a stopping heartbeat; the next worker re-queues them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tlcompare.content_keys import check_unchanged
from tlcompare.errors import UserError
from tlcompare.spec import RunSpec
from tlcompare.store import LostRun, Store
from tlcompare.store.queue import MAX_CRASHES
from tlcompare.worker.control import DRIVER_DEVICE, SLOT_DEVICE
from tlcompare.worker.process import WorkerConfig, _Heartbeat, _log_stderr, _one_line
from tlcompare.worker.procs import new_worker_id
from tlcompare.worker.ray_address import check_reachable, redact, unreachable

CLUSTER_PROBE_SECONDS = 5.0  # how often a driver waiting on a run checks that the cluster's head answers
# After an actor dies: how long to watch whether the whole cluster is going before starting another.
ACTOR_DEATH_WATCH_SECONDS = 6.0


class ActorDied(Exception):
    pass


class RayWorker:
    def __init__(self, store: Store, address: str | None = None, runs_per_gpu: int = 1, actors: int | None = None,
                 worker_id: str | None = None, slot: str | None = None, config: WorkerConfig | None = None,
                 log: Callable[[str], None] | None = None, local_cpus: int | None = None, once: bool = False,
                 experiment_id: int | None = None):
        """``address``: an existing cluster (else ``RAY_ADDRESS``, else a local cluster is started with
        ``local_cpus`` CPUs); ``actors``: how many runs at once (default: what the cluster holds)."""
        if runs_per_gpu < 1:
            raise UserError(f"--runs-per-gpu must be at least 1, got {runs_per_gpu}")
        if actors is not None and actors < 1:
            raise UserError(f"--actors must be at least 1, got {actors}")
        self.store, self.address, self.runs_per_gpu, self.n_actors = store, address, runs_per_gpu, actors
        self.local_cpus, self.once, self.experiment_id = local_cpus, once, experiment_id
        self.id = worker_id or new_worker_id()
        self.slot = slot
        self.config = config or WorkerConfig.from_env()
        self.log = log or (lambda message: _log_stderr(f"ray worker {self.id}: {message}"))
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._data: dict[tuple, object] = {}  # data key -> object ref of the decoded dataset
        self._weights: dict[str, dict] = {}  # weights key -> the payload sent with each run
        self.executed = 0
        self.fatal: str | None = None
        self._address: str | None = None

    # -- cluster ---------------------------------------------------------------------------------
    def connect(self):
        import ray

        address = self._address = self.address or os.environ.get("RAY_ADDRESS") or None
        check_reachable(address)
        try:
            if address:
                ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            else:
                ray.init(num_cpus=self.local_cpus, include_dashboard=False, logging_level="WARNING",
                         log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at {redact(address)}" if address else "on this machine"
            said = str(e).replace(address, redact(address)) if address else str(e)
            raise UserError(f"cannot reach a Ray cluster {where}: {_one_line(redact(said), 200)}; start one with "
                            "`ray start --head` or check the address") from None
        return ray

    def plan(self, ray) -> tuple[int, dict]:
        """How many actors, and the resources each asks for."""
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0)
        if gpus >= 1:
            count, options = int(gpus) * self.runs_per_gpu, {"num_gpus": 1 / self.runs_per_gpu, "num_cpus": 0}
        else:
            count, options = max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}
        return (self.n_actors or count), options

    # -- the driver loop ----------------------------------------------------------------------------
    def serve(self) -> int:
        ray = self.connect()
        self._install_signal_handlers()  # after ray.init, which installs its own
        count, options = self.plan(ray)
        from tlcompare.worker.ray_actor import RunActor

        # Two calls at once per actor: `train` streams, `cancel` must get through while it does.
        self._actor_class = ray.remote(max_concurrency=2, **options)(RunActor)
        self._actor_options = {"scheduling_strategy": "SPREAD"}
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        self.log(f"connected to a Ray cluster of {nodes} node(s), {ray.cluster_resources().get('GPU', 0):g} GPU(s); "
                 f"{count} run(s) at once ({options})")
        self.store.register_worker(self.id, f"{DRIVER_DEVICE}: {nodes} node(s)", self.slot, self.experiment_id)
        heart = _Heartbeat(self.store.path, self.id, self.config.heartbeat_seconds, self.stop, self.log)
        heart.start()
        threads = [threading.Thread(target=self._slot_loop, args=(i,), name=f"tlcompare-ray-{i}", daemon=True)
                   for i in range(count)]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        finally:
            heart.halt()
            self.store.worker_exited(self.id)
            if not self.fatal:  # with the cluster gone, disconnecting would wait for it
                with contextlib.suppress(Exception):
                    ray.shutdown()
            self.log(f"exited after {self.executed} run(s)")
        if self.fatal:
            raise UserError(self.fatal)
        return self.executed

    def _install_signal_handlers(self) -> None:
        def handle(signum, frame):
            self.log(f"received {signal.Signals(signum).name}: stopping; runs in progress go back to the queue")
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def _slot_loop(self, index: int) -> None:
        import ray

        store = Store(self.store.path)
        worker_id = f"{self.id}-{index}"
        actor, where = None, None
        store.register_worker(worker_id, f"{SLOT_DEVICE} (starting)", None)
        heart = _Heartbeat(store.path, worker_id, self.config.heartbeat_seconds, self.stop, self.log)
        heart.start()
        idle_since = time.monotonic()
        try:
            while not self.stop.is_set():
                if actor is None:
                    actor = self._actor_class.options(**self._actor_options).remote()
                    where = ray.get(actor.where.remote())
                    share = f"GPU {','.join(where['gpu_ids'])}" if where["gpu_ids"] else "CPU"
                    node = f"{where['host']}/{where['node_id'][:8]}"  # one host may run several nodes
                    store.register_worker(worker_id, f"{SLOT_DEVICE} {node} {share} pid {where['pid']}", None)
                for r in store.recover_stale(self.config.stale_after):
                    self.log(f"run {r['run_id']}: its worker {r['worker_id']} died; now {r['status']}")
                claimed = store.claim(worker_id, self.experiment_id)
                if claimed is None:
                    if self.once and not store.has_pending(self.experiment_id) and not store.may_queue_more(self.experiment_id):
                        break
                    if self.config.idle_exit is not None and time.monotonic() - idle_since > self.config.idle_exit:
                        break
                    self.stop.wait(self.config.poll_seconds)
                    continue
                heart.set_run(claimed["run_id"], claimed["attempt"])
                try:
                    self._execute(store, worker_id, actor, claimed, heart)
                    self.executed += 1
                except ActorDied as e:
                    self.log(f"run {claimed['run_id']}: {e}")
                    gone = self._gone_after(ACTOR_DEATH_WATCH_SECONDS)  # a dead actor, or the whole cluster going?
                    if gone:
                        self.fatal = (f"lost the Ray cluster at {redact(self._address)} ({gone}); the runs in progress went "
                                      "back to the queue: start the cluster again, then this worker")
                        self.stop.set()
                        break
                    with contextlib.suppress(Exception):
                        ray.kill(actor)
                    actor = None
                finally:
                    heart.set_run(None)
                    idle_since = time.monotonic()
        except Exception as e:  # the cluster went away, or the store did: stop the whole driver
            self.fatal = f"the Ray worker stopped: {_one_line(f'{type(e).__name__}: {e}', 300)}"
            self.log(self.fatal + "\n" + traceback.format_exc())
            self.stop.set()
        finally:
            heart.halt()
            with contextlib.suppress(Exception):
                store.worker_exited(worker_id)
            store.close()

    def _gone_after(self, seconds: float) -> str | None:
        """Why the cluster is gone, looking for up to ``seconds``; None while it still answers. A cluster
        that shuts down loses its actors first and may answer at its address for some seconds more: a
        new actor started meanwhile blocks until Ray ends this process, without a word of ours."""
        deadline = time.monotonic() + seconds
        while True:
            gone = unreachable(self._address, timeout=2.0)
            if gone or time.monotonic() >= deadline or self.stop.wait(0.5):
                return gone

    def _execute(self, store: Store, worker_id: str, actor, claimed: dict, heart: _Heartbeat) -> None:
        import ray

        run_id, attempt = claimed["run_id"], claimed["attempt"]
        self.log(f"run {run_id} ({claimed['label']}, experiment {claimed['experiment_id']}): attempt {attempt}")
        try:
            run = claimed["run"]
            spec = run.experiment
            if run.config_hash() != claimed["config_hash"]:
                raise UserError("this run was queued by a tlcompare version with other defaults; "
                                "submit the experiment again")
            check_unchanged(spec, run.arm)
            data_key, data_ref = self._dataset(spec)
            weights = self._weights_for(run)
        except UserError as e:
            self._record_failure(store, claimed, worker_id, _one_line(str(e)), traceback.format_exc())
            return
        stream = actor.train.options(num_returns="streaming").remote(
            {k: claimed[k] for k in ("run_id", "run")}, [data_ref], data_key, weights)
        reason = None
        next_probe = time.monotonic() + CLUSTER_PROBE_SECONDS
        next_check = time.monotonic() + self.config.cancel_check_seconds
        try:
            while True:
                ready, _ = ray.wait([stream], timeout=self.config.cancel_check_seconds)
                now = time.monotonic()
                if not ready and now > next_probe:
                    # Ray notices a lost head only after about a minute, then ends this process: look first.
                    next_probe = now + CLUSTER_PROBE_SECONDS
                    if unreachable(self._address):
                        raise ActorDied("the Ray cluster stopped answering")
                # On a clock, not only when the stream pauses: short epochs stream without a pause.
                if reason is None and now >= next_check:
                    next_check = now + self.config.cancel_check_seconds
                    state = store.run_control(run_id, worker_id, attempt)
                    reason = "stop" if self.stop.is_set() else (state if state != "ok" else None)
                    if reason:
                        actor.cancel.remote(run_id)
                if not ready:
                    continue
                try:
                    event = self._get_while_the_cluster_answers(ray, next(stream))
                except StopIteration:
                    raise ActorDied("the Ray actor ended the run without a result") from None
                if self._record(store, claimed, worker_id, event, heart, reason):
                    return
        except (ray.exceptions.RayActorError, ActorDied) as e:
            message = str(e) if isinstance(e, ActorDied) else f"its Ray worker died ({_one_line(str(e), 160)})"
            self._requeue(store, claimed, worker_id, message)
            raise ActorDied(message) from None
        except LostRun:
            self.log(f"run {run_id}: deleted or taken over by another worker")

    def _get_while_the_cluster_answers(self, ray, ref):
        """``ray.get(ref)``, looking at the cluster's head every few seconds meanwhile. An event streamed
        just before the head went away lives in its object store: Ray then tries to reconstruct it and
        waits, until it ends this process a minute later with exit code 1 and no word of ours."""
        while True:
            try:
                return ray.get(ref, timeout=CLUSTER_PROBE_SECONDS)
            except ray.exceptions.GetTimeoutError:
                if unreachable(self._address):
                    raise ActorDied("the Ray cluster stopped answering") from None

    def _record(self, store: Store, claimed: dict, worker_id: str, event: dict, heart: _Heartbeat,
                reason: str | None) -> bool:
        """Write one streamed event; True when the run has ended."""
        run_id, attempt = claimed["run_id"], claimed["attempt"]
        kind = event["kind"]
        if kind == "started":
            claimed["node"] = event["node"]
            store.run_started(run_id, worker_id, attempt, event["device"], event["environment"])
        elif kind == "epoch":
            store.add_epoch(run_id, worker_id, attempt, event["record"])
        elif kind == "progress":
            heart.progress(event["step"], event["total"])
        elif kind == "error":
            self._record_failure(store, claimed, worker_id, _one_line(event["message"]), event["traceback"])
            return True
        elif kind == "result":
            result = event["result"]
            if result["status"] == "cancelled" and reason == "lost":
                raise LostRun(run_id)
            if result["status"] == "cancelled" and reason == "stop":
                store.interrupt_run(run_id, worker_id, attempt, "the Ray worker was stopped; re-queued")
            else:  # where it trained travels with the result: JSON exports and `show` keep it
                store.finish_run(run_id, worker_id, attempt, {**result, "node": claimed.get("node")})
            self.log(f"run {run_id}: {result['status']}")
            return True
        return False

    def _record_failure(self, store: Store, claimed: dict, worker_id: str, error: str, tb: str) -> None:
        self.log(f"run {claimed['run_id']}: failed: {error}")
        with contextlib.suppress(LostRun):
            store.fail_run(claimed["run_id"], worker_id, claimed["attempt"], error, tb)

    def _requeue(self, store: Store, claimed: dict, worker_id: str, message: str) -> None:
        """An actor died under the run: retry it, unless it has now killed MAX_CRASHES actors."""
        deaths = self._deaths = getattr(self, "_deaths", {})
        deaths[claimed["run_id"]] = deaths.get(claimed["run_id"], 0) + 1
        with contextlib.suppress(LostRun):
            if deaths[claimed["run_id"]] >= MAX_CRASHES:
                store.fail_run(claimed["run_id"], worker_id, claimed["attempt"],
                               f"{message}; it did so {MAX_CRASHES} times (out of memory?)", None)
            else:
                store.interrupt_run(claimed["run_id"], worker_id, claimed["attempt"], f"{message}; re-queued")

    # -- what travels --------------------------------------------------------------------------------
    def _dataset(self, spec) -> tuple[tuple, object]:
        """The decoded dataset in Ray's object store: put once per experiment's data, not per run."""
        import ray

        from tlcompare.data import load_dataset

        key = (spec.dataset, spec.source_key, spec.data_root, spec.image_size)
        with self._lock:
            if key not in self._data:
                dataset = load_dataset(spec.dataset, spec.data_root, image_size=spec.image_size)
                if len(self._data) >= 2:  # keep the newest two: a store usually runs one experiment at a time
                    self._data.pop(next(iter(self._data)))
                self._data[key] = ray.put(dataset)
            return key, self._data[key]

    def _weights_for(self, run: RunSpec) -> dict | None:
        """Checkpoint bytes the node may not have; None when the node builds the model by itself."""
        if not run.pretrained:
            return None
        spec = run.experiment
        if spec.weights:
            key, path, kind = spec.weights_key or spec.weights, Path(spec.weights), "checkpoint"
        else:
            path = _torchvision_cache_file(run.model)
            if path is None:
                return None  # weights shipped by an installed package, present on every node with tlcompare
            key, kind = f"hub:{path.name}", "hub"
        import ray

        with self._lock:
            if key not in self._weights:
                # A reference inside a dict travels as a reference: each node fetches the bytes once.
                self._weights[key] = {"kind": kind, "key": key, "path_in_hub": str(path),
                                      "ref": ray.put(path.read_bytes())}
            return self._weights[key]


def _torchvision_cache_file(model: str) -> Path | None:
    from tlcompare.models import torchvision_models

    if model not in torchvision_models.ARCHITECTURES:
        return None
    path = torchvision_models.cached_weights_path(model)
    return path if path.is_file() else None
