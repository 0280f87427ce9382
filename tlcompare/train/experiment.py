"""Run a whole experiment in this process, without the store: the engine called directly.

``tlcompare run`` goes through the store and a worker instead (so its results are kept and
reused); this path stays for scripts and as the reference the worker's results are tested against.
The data is prepared on the device once; the runs then execute one after another, each pair of
arms back to back on the same subset.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torchvision

import tlcompare
from tlcompare.data.fingerprint import dataset_fingerprint
from tlcompare.spec import ExperimentSpec, RunSpec
from tlcompare.threads import ThreadChoice, choose_run_threads, wait_policy
from tlcompare.train import RunResult, describe_device, prepare, resolve_device, train_run


@dataclass
class ExperimentResult:
    spec: ExperimentSpec
    runs: list[RunResult] = field(default_factory=list)
    environment: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"spec": self.spec.to_dict(), "environment": self.environment, "runs": [r.to_dict() for r in self.runs]}


def environment(device: torch.device, data, threads: ThreadChoice | None = None) -> dict:
    """Where an experiment trains; ``threads``: how the first run's threads were chosen."""
    return {
        "tlcompare": tlcompare.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "device": describe_device(device),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": wait_policy(),
        **({"thread_choice": threads.to_dict()} if threads is not None else {}),
        "dataset": data.dataset.name,
        "dataset_licence": data.dataset.licence,
        "dataset_fingerprint": dataset_fingerprint(data.dataset),
        "class_names": data.class_names,
        "n_val": int(len(data.splits.val)),
        "n_test": int(len(data.test_labels)),
        "pool_per_class": data.splits.pool_counts(),
    }


def run_experiment(
    spec: ExperimentSpec,
    on_run_start: Callable[[int, int, RunSpec], None] | None = None,
    on_epoch: Callable[[RunSpec, dict], None] | None = None,
    on_run_end: Callable[[RunSpec, RunResult], None] | None = None,
) -> ExperimentResult:
    device = resolve_device(spec.device)
    runs = spec.runs()
    total = len(spec.planned_runs())
    data = prepare(runs[0].experiment if runs else spec, device)
    result = ExperimentResult(spec)
    started = time.perf_counter()
    trained: list[tuple[RunSpec, RunResult]] = []
    for i, run in enumerate(_with_held(spec, runs, trained)):
        if on_run_start:
            on_run_start(i, total, run)
        if run.experiment.image_size != data.images.shape[-1]:  # the next resolution of a sweep
            data = None
            data = prepare(run.experiment, device)
        choice = choose_run_threads(device.type)  # as the worker does: the cores free when a run starts
        result.environment = result.environment or environment(device, data, choice)
        res = train_run(run, data, device, on_epoch=(lambda rec, run=run: on_epoch(run, rec)) if on_epoch else None)
        res.thread_choice = choice.to_dict()
        result.runs.append(res)
        trained.append((run, res))
        if on_run_end:
            on_run_end(run, res)
    result.environment["wall_seconds"] = time.perf_counter() - started
    return result


def _with_held(spec: ExperimentSpec, runs: list[RunSpec], trained: list[tuple[RunSpec, RunResult]]):
    """``runs``, then under tune = "lr-ends" each resolution's middle sizes at the rates its end grids
    chose (as the store queues them: store/ends.py); ``trained`` fills in while this is iterated."""
    from tlcompare.analysis.tuning import held_rates

    yield from runs
    for sub in spec.by_resolution():
        if not sub.middle_sizes:
            continue
        ends = [{**res.to_dict(), "freeze": run.freeze} for run, res in trained
                if run.experiment.image_size == sub.image_size]
        rates = held_rates(ends, sub.middle_sizes)
        # An arm none of whose rates finished at an end has nothing to interpolate: it is left out.
        yield from (run for run in sub.held_runs(rates) if (run.arm, repr(run.freeze)) in rates)

