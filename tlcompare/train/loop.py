"""One training run, top to bottom.

    backbone, freeze = build_model(...)        the backbone with its new head, its first stages frozen
    estimate_bn_statistics(...)                the random-features control only: BatchNorm on its training images
    inputs = run_inputs(...)                   images, or cached features for a linear probe (inputs.py)
    opt, sched = optimizer_and_schedule(...)   AdamW or SGD on the budget's schedule (step.py)
    every epoch:
        train_epoch(...)                       the budget's optimizer steps; Cancelled between two of them
        evaluate_epoch(...)                    validation and a sample of the plain training images
        check_diverged(...)                    Diverged on a NaN or exploding loss
        budget.end_epoch(...)                  keep the model to report; stop when the budget is spent
    finish(...)                                the reported model: the test set, evaluated once

A step's data path: uint8 batch gathered on the device -> float -> augmentation on the device ->
gray to RGB -> per-backbone normalisation -> (bf16 autocast, channels_last on CUDA) -> forward and
backward through the trainable suffix only.
"""

from __future__ import annotations

import gc
import hashlib
import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn

from tlcompare import evaluation_plan
from tlcompare.errors import UserError
from tlcompare.models import apply_freeze, create_backbone, set_train_mode
from tlcompare.spec import RunSpec
from tlcompare.store.correct_bits import pack_correct
from tlcompare.train.bn_stats import estimate_bn_statistics
from tlcompare.train.budget import Budget
from tlcompare.train.data import DeviceData
from tlcompare.train.device import describe_device, mixed_precision
from tlcompare.train.evaluate import classification_metrics
from tlcompare.train.inputs import Inputs, normaliser, run_inputs
from tlcompare.train.result import RunResult
from tlcompare.train.step import optimizer_and_schedule, rates, train_step

EXPLODED_LOSS_FACTOR = 100.0
# Below this a batch is too small for BatchNorm statistics to mean much; better to fail clearly.
OOM_MIN_BATCH = 8


class Cancelled(Exception):
    """``should_stop`` said so between two steps: the run ends where it is, without final metrics."""


class Diverged(Exception):
    """The training loss became NaN or exploded: a result (the rate is too high for this arm), not a crash."""


def train_run(
    run: RunSpec,
    data: DeviceData,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Train one run and return its per-epoch metrics and final evaluation.

    ``should_stop`` is polled between steps (so a cancel lands within one step, not one epoch);
    ``on_epoch`` receives each epoch's metrics as soon as they exist.

    When the GPU runs out of memory the whole run starts again at half the batch size, down to
    ``OOM_MIN_BATCH``; the result records how often (``oom_retries``) and the batch size it used.
    The epochs of an abandoned attempt are sent again by the retry under the same numbers.
    """
    batch = run.batch_size(len(data.train_indices(run.size, run.seed, run.experiment.validation)))
    retries = 0
    while True:
        try:
            result = _train_at_batch(run, data, device, batch, on_epoch, should_stop, on_step)
            break
        except torch.cuda.OutOfMemoryError:
            if batch <= OOM_MIN_BATCH:
                raise UserError(
                    f"out of GPU memory even at batch size {batch} ({run.label()}): use a smaller image_size "
                    "or model, or free the GPU of other work"
                ) from None
        # Out of the except block, so the traceback (and the tensors its frames hold) is gone.
        _free_memory(device)
        batch = max(OOM_MIN_BATCH, batch // 2)
        retries += 1
    result.oom_retries = retries
    return result


class _Chosen(NamedTuple):
    """The model a run reports: the last epoch's, or under ``converged`` the best validation epoch's.
    Only this model meets the test set, once, when the run ends (``finish``)."""

    record: dict
    weights: dict | None  # in memory, kept only when a later epoch may be worse (converged)


@dataclass
class _Progress:
    total_steps: int  # the budget's, for progress bars (an upper bound under ``converged``)
    steps: int = 0
    images: int = 0
    train_seconds: float = 0.0  # what the epochs report as training time: computing cached features included
    step_seconds: float = 0.0  # optimizer steps only: the per-step cost


def _train_at_batch(
    run: RunSpec,
    data: DeviceData,
    device: torch.device,
    batch: int,
    on_epoch: Callable[[dict], None] | None,
    should_stop: Callable[[], bool] | None,
    on_step: Callable[[int, int], None] | None,
) -> RunResult:
    """The run at ``batch`` images a step, start to finish: what the out-of-memory retry calls again."""
    torch.manual_seed(run.seed)  # the new head's initial weights and every dropout mask
    backbone, freeze = build_model(run, data, device)
    subset, val_idx = data.run_split(run.size, run.seed, run.experiment.validation)
    subset = subset.to(device)
    if run.arm == "random":  # the control normalises with its own training images' statistics (bn_stats.py)
        estimate_bn_statistics(backbone.model, data.images[subset.to(data.images.device)].to(device),
                               normaliser(backbone, data.images.shape[1], device))
    inputs = run_inputs(run, data, backbone, subset, device, val_idx)
    budget = Budget(run.experiment, math.ceil(inputs.n / batch))
    opt, sched = optimizer_and_schedule(run, backbone, budget)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=run.experiment.label_smoothing)
    # Shuffling draws from its own generator: the same seed gives the same batches for both arms of a pair.
    gen = torch.Generator(device="cpu").manual_seed(run.seed)
    plain = _plain_sample(inputs)
    result = _new_result(run, backbone, freeze, inputs, subset, batch, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    progress = _Progress(budget.total_steps)
    chosen = None
    try:
        for epoch in range(1, budget.max_epochs + 1):
            set_train_mode(backbone, freeze.depth)  # resolved once, by apply_freeze
            steps = budget.steps_in_epoch(epoch)
            train_loss, train_acc, seconds = train_epoch(
                inputs, _shuffled(inputs.n, batch, gen, device), steps, batch, opt, sched, loss_fn,
                progress, should_stop, on_step)
            progress.step_seconds += seconds
            if epoch == 1:
                seconds += inputs.setup_seconds  # computing the cached features is part of training this run
            progress.train_seconds += seconds
            progress.images += steps * batch
            scores, val_seconds, plain_seconds = evaluate_epoch(inputs, plain, loss_fn)
            record = {
                "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, **scores,
                "train_seconds": seconds,
                "elapsed_train_seconds": progress.train_seconds,
                "eval_seconds": val_seconds + plain_seconds,
                "val_seconds": val_seconds,
                "plain_seconds": plain_seconds,
                "images_per_sec": steps * batch / seconds if seconds > 0 else float("nan"),
                **rates(opt),
                "batch_size": batch,
                "peak_mem_mb": _peak_memory_mb(device),
            }
            result.epochs.append(record)
            result.epochs_done, result.steps_done = epoch, progress.steps
            if on_epoch is not None:
                on_epoch(record)
            check_diverged(train_loss, epoch, len(data.class_names))
            improved, stop = budget.end_epoch(epoch, record["val_acc"])
            if not budget.selects_best or improved:
                weights = _weights(backbone.model) if budget.selects_best else None
                chosen = _Chosen(record, weights)
            if stop is not None:
                result.stop_reason = stop
                break
    except Cancelled:
        result.status = result.stop_reason = "cancelled"
    except Diverged as why:
        # Keep what was measured and say so.
        result.status = result.stop_reason = "diverged"
        result.error = str(why)
    else:
        if chosen is not None:
            finish(result, chosen, inputs, backbone.model, progress, len(data.class_names))
    return result


def build_model(run: RunSpec, data: DeviceData, device: torch.device):
    """The run's backbone with a new head for these classes, its first ``depth`` stages frozen, on the device."""
    backbone = create_backbone(
        run.model,
        num_classes=len(data.class_names),
        pretrained=run.pretrained,
        weights=run.experiment.weights if run.pretrained else None,
        in_chans=data.images.shape[1],
    )
    freeze = apply_freeze(backbone, run.depth)  # resolved once: freeze.depth is a stage count
    backbone.model.to(device)
    if device.type == "cuda":
        # channels_last: the layout cuDNN's bf16 convolutions run natively, without transposes.
        backbone.model.to(memory_format=torch.channels_last)
    return backbone, freeze


def _shuffled(n: int, batch: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """This epoch's order of the training images, on the device."""
    perm = torch.randperm(n, generator=gen)
    if n % batch:  # wrap around so every batch has the same shape (no recompiles, steady kernels)
        perm = torch.cat([perm, perm[: batch - n % batch]])
    return perm.to(device)


def train_epoch(inputs: Inputs, perm: torch.Tensor, steps: int, batch: int, opt, sched, loss_fn,
                progress: _Progress, should_stop, on_step) -> tuple[float, float, float]:
    """``steps`` optimizer steps in the order ``perm``: (mean loss, accuracy over the augmented batches, seconds).

    ``should_stop`` is asked before every step, so a cancel lands within one step, not one epoch.
    """
    device = inputs.device
    autocast = mixed_precision(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        if should_stop is not None and should_stop():
            raise Cancelled
        loss, right = train_step(inputs, perm[i * batch : (i + 1) * batch], opt, sched, loss_fn, autocast)
        loss_sum += loss
        correct += right
        progress.steps += 1
        if on_step is not None:
            on_step(progress.steps, progress.total_steps)
    _sync(device)
    seconds = time.perf_counter() - t0
    return loss_sum.item() / (steps * batch), correct.item() / (steps * batch), seconds


def evaluate_epoch(inputs: Inputs, plain, loss_fn) -> tuple[dict, float, float]:
    """This epoch's model on the validation set and on its plain training sample: (the epoch record's
    scores, validation seconds, plain-pass seconds). No test set: it is for the reported model only."""
    t0 = time.perf_counter()
    (x_val, y_val), (x_plain, y_plain) = inputs.val, plain
    if inputs.device.type == "cpu":
        val_loss, val_pred, plain_pred = _one_cpu_pass(inputs, (x_val, y_val), (x_plain, y_plain), loss_fn)
        # One pass, timed whole: its seconds are shared out in proportion to the images of each part.
        elapsed, n = time.perf_counter() - t0, len(y_val) + len(y_plain)
        val_seconds = elapsed * len(y_val) / n if n else 0.0
        plain_seconds = elapsed - val_seconds
    else:
        val_loss, val_pred = inputs.predict(x_val, y_val, loss_fn)
        t1 = time.perf_counter()
        plain_pred = inputs.predict(x_plain, y_plain)[1]
        val_seconds, plain_seconds = t1 - t0, time.perf_counter() - t1
    scores = {
        # This epoch's model on a sample of its training images without augmentation (_plain_sample):
        # train_acc is a running mean over augmented batches while the weights still change.
        "train_acc_clean": _clean_accuracy(plain_pred, y_plain),
        "val_loss": val_loss,
        "val_acc": (val_pred == y_val).float().mean().item() if len(y_val) else float("nan"),
    }
    return scores, val_seconds, plain_seconds


def _one_cpu_pass(inputs: Inputs, val, plain, loss_fn) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Validation and the plain sample in one ``predict`` on the CPU: each call pays a fixed cost
    (the weights' layout switch, kernels for a new batch shape) about that of scoring 35 images at
    32 px, more than the whole sample of a small subset (docs/benchmarks.md, "What an epoch spends").
    The plain rows carry the ignored label, so the loss is the validation set's alone."""
    (x_val, y_val), (x_plain, y_plain) = val, plain
    n_val, ignore = len(y_val), -100
    x = torch.cat([x_val, x_plain])
    y = torch.cat([y_val, torch.full_like(y_plain, ignore)])
    smoothing = getattr(loss_fn, "label_smoothing", 0.0)

    def val_rows_loss(logits, labels):  # predict multiplies by the chunk's length: give it the chunk's sum / length
        summed = nn.functional.cross_entropy(logits, labels, ignore_index=ignore, reduction="sum", label_smoothing=smoothing)
        return summed / len(labels)

    mean_over_all, pred = inputs.predict(x, y, val_rows_loss)
    val_loss = mean_over_all * len(y) / n_val if n_val else float("nan")
    return val_loss, pred[:n_val], pred[n_val:]


def check_diverged(train_loss: float, epoch: int, num_classes: int) -> None:
    # Chance-level cross-entropy is ln(classes); a mean loss a hundred times that only comes from
    # weights that have blown up, and such runs only get slower (NaN arithmetic) and never recover.
    exploded = EXPLODED_LOSS_FACTOR * max(1.0, math.log(num_classes))
    if not math.isfinite(train_loss) or train_loss > exploded:
        raise Diverged(f"training loss became {train_loss:.4g} in epoch {epoch}; try a lower learning rate")


def finish(result: RunResult, chosen: _Chosen, inputs: Inputs, model: nn.Module, progress: _Progress,
           num_classes: int) -> None:
    """The reported model's final metrics, its weights restored when they are not the last epoch's:
    the one evaluation of the test set in the run."""
    record, weights = chosen
    if weights is not None:
        model.load_state_dict(weights)
    best = max(result.epochs, key=lambda r: (r["val_acc"], -r["epoch"]))
    t0 = time.perf_counter()
    x_test, y_test = inputs.test
    _, test_pred = inputs.predict(x_test, y_test)
    test = classification_metrics(y_test, test_pred, num_classes)
    test_seconds = time.perf_counter() - t0
    result.final = {
        "test_acc": test["acc"],
        "val_acc": record["val_acc"],
        "test_balanced_acc": test["balanced_acc"],
        "test_macro_f1": test["macro_f1"],
        "train_acc": record["train_acc"],
        # The reported model on its own training images without augmentation: what "fits the
        # training data" means (the running train_acc mixes augmented images and an older model).
        "train_acc_clean": _clean_accuracy(inputs.predict(inputs.x, inputs.y)[1], inputs.y),
        "final_epoch": record["epoch"],
        "train_seconds": progress.train_seconds,
        "images_per_sec": progress.images / progress.train_seconds if progress.train_seconds > 0 else float("nan"),
        "seconds_per_step": progress.step_seconds / progress.steps if progress.steps else float("nan"),
        "best_val_acc": best["val_acc"],
        "best_epoch": best["epoch"],
        "test_seconds": test_seconds,
        "peak_mem_mb": max(r["peak_mem_mb"] for r in result.epochs),
    }
    result.confusion = test["confusion"]
    result.per_class_acc = test["per_class_acc"]
    result.misclassified = _misclassified_sample(y_test, test_pred)
    result.test_correct = pack_correct((test_pred == y_test).cpu().numpy())


def _new_result(run: RunSpec, backbone, freeze, inputs: Inputs, subset: torch.Tensor, batch: int,
                device: torch.device) -> RunResult:
    return RunResult(
        arm=run.arm, size=run.size, seed=run.seed, freeze=run.freeze, model=run.model,
        config_hash=run.config_hash(), status="done", device=str(device),
        trainable_params=freeze.trainable_params, total_params=freeze.total_params,
        frozen_stages=list(freeze.frozen_stages), pretrained_source=backbone.pretrained_source,
        lr=run.lr, n_train=inputs.n, subset_hash=_fingerprint(subset), batch_size=batch,
        n_val=len(inputs.val[1]), validation=run.experiment.validation, image_size=run.experiment.image_size,
        feature_cache=inputs.feature_cache, head_lr=run.lr * run.head_lr_mult, budget=run.experiment.budget,
        machine=describe_device(device), threads=torch.get_num_threads(),
    )


def _plain_sample(inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images (or their features) measured without augmentation after every epoch."""
    # The sample's size is evaluation_plan's, which the estimate counts too; the module is read at
    # call time, so a benchmark can change it.
    plain = _even_sample(inputs.n, evaluation_plan.plain_sample_size(inputs.n), inputs.x.device)
    return (inputs.x, inputs.y) if plain is None else (inputs.x[plain], inputs.y[plain])


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # On the CPU there is no per-run counter: this is the process's peak resident memory.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def _clean_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return (pred == labels).float().mean().item() if len(labels) else float("nan")


def _even_sample(n: int, limit: int, device: torch.device) -> torch.Tensor | None:
    """Positions of at most ``limit`` of ``n`` items, evenly spread (so every class of a class-ordered
    subset is in it); None when all ``n`` fit."""
    if n <= limit:
        return None
    return torch.linspace(0, n - 1, limit, device=device).round().long()


def _fingerprint(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.sort().values.cpu().numpy().tobytes()).hexdigest()[:16]


def _misclassified_sample(labels: torch.Tensor, pred: torch.Tensor, limit: int = 32) -> list[dict]:
    wrong = torch.nonzero(labels != pred).flatten()[:limit].cpu()
    return [{"index": int(i), "true": int(labels[i]), "pred": int(pred[i])} for i in wrong]
