"""How long will an experiment take here? A short measured probe, then arithmetic per run.

The probe trains a few steps of the real model at the experiment's image size on this device, at
two batch sizes and two freezing depths, because the runs of an experiment differ in exactly those:
small training sets get small batches (a fixed per-step cost dominates), and a linear probe skips
the backward pass through the frozen body. Results are cached on disk per device, model, image
size and batch size, so the form shows an estimate instantly after the first time.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field

from tlcompare.evaluation_plan import images_evaluated
from tlcompare.home import cache_dir
from tlcompare.spec import ExperimentSpec, RunSpec, within_val_count
from tlcompare.threads import busy_cpu_seconds, choose_run_threads, own_cpu_seconds

# 3: evaluation timed through evaluate.predict on a full batch; 4: a run's own training step;
# 5: threads chosen from the free cores as a run's are, and a key without the thread count.
PROBE_FORMAT = 5
# Starting the worker process (importing torch, preparing the data) before the first run trains.
WORKER_START_SECONDS = 8.0


@dataclass(frozen=True)
class Throughput:
    device: str
    model: str
    image_size: int
    batch_size: int
    step_overhead: float  # seconds per optimizer step whatever the batch size
    image_seconds_full: float  # seconds per training image, fine-tuning everything
    image_seconds_head: float  # seconds per training image, only the head trainable
    eval_image_seconds: float  # seconds per evaluated image
    build_seconds: float  # building the model and its optimizer for one run
    measured_at: float = 0.0
    # Cores other processes kept busy while the probe ran: a busy machine makes every figure slower.
    others_busy_cores: float = 0.0
    threads: int = 0  # the intra-op threads it ran with (chosen from the free cores, as a run's are)

    def step_seconds(self, batch: int, frozen_fraction: float) -> float:
        per_image = self.image_seconds_full + (self.image_seconds_head - self.image_seconds_full) * frozen_fraction
        return self.step_overhead + batch * per_image

    def images_per_second(self, frozen_fraction: float = 0.0) -> float:
        return self.batch_size / self.step_seconds(self.batch_size, frozen_fraction)


@dataclass
class Estimate:
    n_runs: int  # every run of the experiment, reused ones included
    seconds: float  # the runs that will train, plus starting the worker; 0 when every run is reused
    seconds_by_variant: dict[str, float] = field(default_factory=dict)
    startup_seconds: float = 0.0
    n_reused: int = 0  # runs whose identical config already finished: copied, not trained
    minimum: bool = False  # budget "converged": each run trains at least ``epochs``; how long beyond is measured


# -- how busy this machine is -------------------------------------------------------------------------
def machine_busy_note(others_busy_cores: float, cores: int | None = None) -> str | None:
    """One sentence naming other programs as the cause of slow figures, or None when they are not.

    Busy means at least half a core and a quarter of the machine: on two cores, one other training
    process qualifies, a browser redrawing a page does not.
    """
    cores = cores or os.cpu_count() or 1
    if others_busy_cores < max(0.5, cores / 4):
        return None
    return (f"Other programs kept {others_busy_cores:.1f} of this machine's {cores} cores busy while its speed was "
            "measured: the estimate is slower than this machine is on its own. Measure again when they have finished.")


# -- the probe ----------------------------------------------------------------------------------------
def _time_steps(step, steps: int, budget: float, sync) -> float:
    """Median seconds of ``steps`` calls after one warm-up call; stops early past ``budget``."""
    step()
    sync()
    times = []
    deadline = time.perf_counter() + budget
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    times.sort()
    return times[len(times) // 2]


def probe_throughput(model: str, image_size: int, batch_size: int, device: str = "auto",
                     steps: int = 3, budget: float = 4.0) -> Throughput:
    """Measure training and evaluation speed of ``model`` here (a few seconds; no weights needed).

    It times a run's own step (``train.step.train_step``: the batch gathered, augmented as by
    default and normalised, forward, backward, optimizer) on random uint8 images.
    """
    import torch
    import torch.nn as nn

    from tlcompare.models import apply_freeze, create_backbone, set_train_mode
    from tlcompare.train.device import describe_device, mixed_precision, resolve_device
    from tlcompare.train.inputs import image_inputs, normaliser
    from tlcompare.train.step import make_optimizer, param_groups, train_step

    dev = resolve_device(device)
    cuda = dev.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    # The threads a run starting now would get (the free cores, on the CPU), so the probe times what runs get.
    choice = choose_run_threads(dev.type)
    busy0, own0, wall0 = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    t0 = time.perf_counter()
    backbone = create_backbone(model, num_classes=10, pretrained=False, in_chans=3)
    net = backbone.model.to(dev)
    if cuda:
        net = net.to(memory_format=torch.channels_last)
    build_seconds = time.perf_counter() - t0
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    small = min(8, batch_size)
    images = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8, generator=gen).to(dev)
    labels = torch.randint(0, 10, (batch_size,), generator=gen).to(dev)
    to_input = normaliser(backbone, 3, dev)
    inputs = image_inputs(net, to_input, images, labels, (images, labels), (images, labels), ExperimentSpec.augment,
                          torch.Generator(device=dev).manual_seed(0), dev)

    def train_seconds(depth, batch: int) -> float:
        set_train_mode(backbone, apply_freeze(backbone, depth).depth)
        opt = make_optimizer("adamw", param_groups(net, backbone.head, 1e-4, 1e-3, 0.0), 1e-4)
        idx = torch.arange(batch, device=dev)
        autocast = mixed_precision(dev)
        return _time_steps(lambda: train_step(inputs, idx, opt, None, loss_fn, autocast), steps, budget / 4, sync)

    fits = {}
    for depth in (0, "all"):
        t_small = train_seconds(depth, small)
        t_big = train_seconds(depth, batch_size) if batch_size > small else t_small
        per_image = (t_big - t_small) / (batch_size - small) if batch_size > small else t_big / batch_size
        overhead = t_small - small * per_image
        if per_image <= 0 or overhead < 0:  # noisy timings: fall back to a plain per-image cost
            per_image, overhead = t_big / batch_size, 0.0
        fits[depth] = (per_image, overhead)

    # Through the real evaluation path: its batch size and its layout switch on the CPU (oneDNN
    # infers about 4x faster in channels_last there) decide the cost, not the training step's.
    n_eval = 512 if image_size <= 64 else 128  # one full evaluation batch where it is cheap: fixed costs amortise as in a run
    eval_images = torch.randint(0, 256, (n_eval, 3, image_size, image_size), dtype=torch.uint8, generator=gen).to(dev)
    eval_labels = torch.randint(0, 10, (n_eval,), generator=gen).to(dev)
    eval_seconds = _time_steps(lambda: inputs.predict(eval_images, eval_labels), steps, budget / 4, sync)
    busy1, wall = busy_cpu_seconds(), time.perf_counter() - wall0
    others = 0.0 if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0 - (own_cpu_seconds() - own0)) / wall)
    return Throughput(
        device=describe_device(dev), model=model, image_size=image_size, batch_size=batch_size,
        step_overhead=(fits[0][1] + fits["all"][1]) / 2, image_seconds_full=fits[0][0],
        image_seconds_head=fits["all"][0], eval_image_seconds=eval_seconds / n_eval,
        build_seconds=build_seconds, measured_at=time.time(), others_busy_cores=round(others, 2),
        threads=choice.threads,
    )


def _cache_file():
    return cache_dir() / "throughput.json"


def cache_key(model: str, image_size: int, batch_size: int, device: str) -> str:
    import torch

    from tlcompare.train.device import describe_device, resolve_device

    # The machine without its thread count: that is chosen per run from the free cores (threads.py),
    # so the dashboard asking and the probe's own process answering must agree on the key.
    return f"{PROBE_FORMAT}|{describe_device(resolve_device(device), threads=False)}|torch {torch.__version__}|{model}|{image_size}|{batch_size}"


def _read_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def save_throughput(tp: Throughput, device: str = "auto") -> None:
    """Remember a probe's result (also how a test or a benchmark seeds the cache)."""
    cache = _read_cache()
    cache[cache_key(tp.model, tp.image_size, tp.batch_size, device)] = asdict(tp)
    _write_cache(cache)


def _write_cache(cache: dict) -> None:
    path = _cache_file()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(cache, f, indent=1)
    os.replace(tmp, path)  # atomic: two dashboards probing at once never leave half a file


def cached_entry(model: str, image_size: int, batch_size: int, device: str = "auto") -> Throughput | None:
    """The probe's result from the disk cache; None when this combination was never measured here."""
    entry = _read_cache().get(cache_key(model, image_size, batch_size, device))
    try:
        return None if entry is None else Throughput(**entry)
    except TypeError:
        return None  # written by another version: measure again


def forget_throughput(model: str, image_size: int, batch_size: int, device: str = "auto") -> None:
    _write_cache({k: v for k, v in _read_cache().items() if k != cache_key(model, image_size, batch_size, device)})


def cached_throughput(model: str, image_size: int, batch_size: int, device: str = "auto",
                      remeasure: bool = False) -> Throughput:
    """The probe's result from the disk cache, measuring (here, now) only when this combination is new."""
    tp = None if remeasure else cached_entry(model, image_size, batch_size, device)
    if tp is not None:
        return tp
    tp = probe_throughput(model, image_size, batch_size, device)
    save_throughput(tp, device)
    return tp


# -- the arithmetic -----------------------------------------------------------------------------------
def run_seconds(run: RunSpec, tp: Throughput, num_classes: int, n_val: int, n_test: int, n_stages: int) -> float:
    """One run: build, then per epoch the training steps, the validation set and the plain training
    sample; once at the end the test set and the whole training subset (``evaluation_plan``).

    Under ``budget = "converged"`` this is the minimum (``min_steps``, in whole epochs): how long a
    run goes on is what the experiment finds out. ``n_val``: the held-out validation set; under
    ``validation = "within"`` a fifth of the run's own labelled images validate instead (and do not train).
    """
    spec = run.experiment
    n = run.size * num_classes
    if spec.validation == "within":
        n_val = within_val_count(run.size) * num_classes
        n -= n_val
    batch = run.batch_size(n)
    steps = math.ceil(n / batch)
    if run.arm not in ("pretrained", "random") or run.freeze is None:
        frozen = 0.0
    else:
        frozen = 1.0 if run.freeze == "all" else min(1.0, int(run.freeze) / max(1, n_stages))
    if spec.budget == "steps":
        total_steps, evaluations = spec.steps, math.ceil(spec.steps / steps)
    else:
        epochs = spec.epochs
        if spec.budget == "converged" and spec.min_steps is not None:
            epochs = max(1, math.ceil(spec.min_steps / steps))
        total_steps, evaluations = epochs * steps, epochs
    evaluated = images_evaluated(n, n_val, n_test, evaluations)
    return tp.build_seconds + total_steps * tp.step_seconds(batch, frozen) + evaluated * tp.eval_image_seconds


def estimate(spec: ExperimentSpec, throughputs: dict[str, Throughput], num_classes: int, n_val: int,
             n_test: int, n_stages: int, worker_running: bool = False, n_images: int | None = None,
             finished: set[str] | frozenset[str] = frozenset()) -> Estimate:
    """Wall time of the whole experiment on one worker; ``throughputs`` maps model name (or model name
    and image size) to its probe.

    ``n_images``: every image of the dataset (for the one feature pass of cached linear probes).
    ``finished``: config hashes with a reusable result in the store; those runs are copied, not trained.
    """
    from tlcompare.analysis.frames import variant

    runs = spec.planned_runs()
    by_variant: dict[str, float] = {}
    features_done: set = set()
    reused = 0
    for run in runs:
        if run.config_hash() in finished:
            reused += 1
            continue
        # Keyed by model, or by (model, resolution) for a resolution sweep.
        tp = throughputs.get((run.model, run.experiment.image_size)) or throughputs[run.model]
        if run.caches_features:
            # One forward pass of the body over the experiment's images, by the first such run (per
            # seed and size for random bodies); after that a probe trains a linear head: building dominates.
            body = "pretrained" if run.arm == "pretrained" else (run.seed, run.size)
            seconds = tp.build_seconds + (0.0 if body in features_done else (n_images or 0) * tp.eval_image_seconds)
            features_done.add(body)
        else:
            seconds = run_seconds(run, tp, num_classes, n_val, n_test, n_stages)
        name = variant(run.arm, run.freeze)
        by_variant[name] = by_variant.get(name, 0.0) + seconds
    startup = 0.0 if worker_running or reused == len(runs) else WORKER_START_SECONDS
    return Estimate(n_runs=len(runs), seconds=startup + sum(by_variant.values()), seconds_by_variant=by_variant,
                    startup_seconds=startup, n_reused=reused, minimum=spec.budget == "converged")
