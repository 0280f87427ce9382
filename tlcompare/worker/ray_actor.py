"""The remote half of the Ray executor: a long-lived process that trains the runs it is handed.

It never opens the store and never reads the user's files. The driver (``ray_driver.RayWorker``)
sends the run's spec, the decoded dataset (put in Ray's object store once per experiment) and, when
the run needs them, the checkpoint bytes; this side streams back one record per event: where it
runs, each epoch, progress now and then, and finally the result or the error.

Long-lived because a fresh process per run would pay Python, torch and CUDA start-up (seconds) every
time; the last dataset stays prepared on the device for the experiment's next run, as in the local
worker.
"""

from __future__ import annotations

import os
import queue
import socket
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

PROGRESS_EVERY = 2.0  # seconds between step-progress records: enough for a live bar, little traffic


class RunActor:
    def __init__(self):
        self._cancel: dict[int, threading.Event] = {}
        self._data_key = None
        self._data = None
        self._weights_dir = Path(tempfile.mkdtemp(prefix="tlcompare-weights-"))

    def where(self) -> dict:
        import ray

        context = ray.get_runtime_context()
        return {"node_id": context.get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}

    def cancel(self, run_id: int) -> None:
        """Called while ``train`` runs (the actor serves two calls at once): stop at the next step."""
        event = self._cancel.get(run_id)
        if event is not None:
            event.set()

    def train(self, claimed: dict, data_box: list, data_key: tuple, weights: dict | None):
        """Generator: yields {"kind": "started" | "epoch" | "progress" | "result" | "error", ...}."""
        cancel = self._cancel[claimed["run_id"]] = threading.Event()
        events: queue.Queue = queue.Queue()
        thread = threading.Thread(target=self._train_thread, args=(claimed, data_box, data_key, weights, cancel, events),
                                  name="tlcompare-train", daemon=True)
        thread.start()
        try:
            while True:
                event = events.get()
                yield event
                if event["kind"] in ("result", "error"):
                    break
        finally:
            cancel.set()  # the driver went away mid-run: stop training rather than run on unseen
            thread.join()
            self._cancel.pop(claimed["run_id"], None)

    def _train_thread(self, claimed, data_box, data_key, weights, cancel, events) -> None:
        from tlcompare.errors import UserError

        try:
            self._train(claimed, data_box, data_key, weights, cancel, events)
        except UserError as e:
            events.put({"kind": "error", "message": str(e), "traceback": traceback.format_exc(), "user_error": True})
        except Exception as e:
            events.put({"kind": "error", "message": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                        "user_error": False})

    def _train(self, claimed, data_box, data_key, weights, cancel, events) -> None:
        import ray

        from tlcompare.data.splits import check_sizes
        from tlcompare.train import prepare, resolve_device, train_run
        from tlcompare.train.experiment import environment

        run = claimed["run"]  # the stored RunSpec, as the driver claimed it
        if weights is not None:
            run = replace(run, experiment=self._place_weights(run.experiment, weights))
        spec = run.experiment
        device = resolve_device(spec.device)
        if self._data_key != (data_key, str(device)) or self._data is None:
            self._data_key = self._data = None  # free the old tensors before the new ones are made
            dataset = ray.get(data_box[0])
            self._data = prepare(replace(spec, sizes=(run.size,)), device, dataset=dataset)
            self._data_key = (data_key, str(device))
        else:
            check_sizes(self._data.splits, (run.size,))
        node = {**self.where(), "device": str(device)}
        env = {**environment(device, self._data), "node": node}
        events.put({"kind": "started", "node": node, "environment": env,
                    "device": f"{device} on {node['host']} (Ray node {node['node_id'][:8]}, pid {node['pid']})"})
        last = [0.0]

        def on_step(step: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                events.put({"kind": "progress", "step": step, "total": total})

        result = train_run(run, self._data, device, on_epoch=lambda record: events.put({"kind": "epoch", "record": record}),
                           should_stop=cancel.is_set, on_step=on_step)
        events.put({"kind": "result", "result": result.to_dict()})

    def _place_weights(self, spec, weights: dict):
        """Write travelling weights where this node's code looks for them; return the spec to train."""
        if weights["kind"] == "checkpoint":  # the user's file: a node-local copy, named by its content
            path = self._weights_dir / f"{weights['key'].replace(':', '-')}.pt"
            if not path.is_file():
                _write_atomically(path, _fetch(weights["ref"]))
            return replace(spec, weights=str(path))
        # torchvision's own cache: the node then needs no download
        path = Path(weights["path_in_hub"])
        import torch

        target = Path(torch.hub.get_dir()) / "checkpoints" / path.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, _fetch(weights["ref"]))
        return spec


def _fetch(ref) -> bytes:
    import ray

    return ray.get(ref)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
