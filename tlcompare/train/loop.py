"""One training run, start to finish: build, freeze, train with data resident on the device, evaluate.

The loop follows the data: uint8 batch gathered on the device -> float -> augmentation on the
device -> gray to RGB -> per-backbone normalisation -> (bf16 autocast, channels_last on CUDA) ->
forward/backward on the trainable suffix only.
"""

from __future__ import annotations

import gc
import hashlib
import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from tlcompare.errors import UserError
from tlcompare.models import apply_freeze, create_backbone, set_train_mode
from tlcompare.spec import RunSpec
from tlcompare.store.correct_bits import pack_correct
from tlcompare.train.augment import augment
from tlcompare.train.budget import Budget
from tlcompare.train.data import DeviceData
from tlcompare.train.device import describe_device
from tlcompare.train.evaluate import classification_metrics, predict
from tlcompare.train.features import frozen_features, head_dropout, predict_features


@dataclass
class RunResult:
    arm: str
    size: int
    seed: int
    freeze: int | str | None
    model: str
    config_hash: str
    status: str  # done | diverged | cancelled
    device: str
    trainable_params: int
    total_params: int
    frozen_stages: list[str]
    pretrained_source: str | None
    lr: float
    n_train: int
    subset_hash: str  # fingerprint of the training images: equal across the arms of a pair
    batch_size: int
    epochs: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    per_class_acc: list[float] = field(default_factory=list)
    misclassified: list[dict] = field(default_factory=list)  # a sample of test images this run gets wrong
    # Which test images the final model gets right (correct_bits.pack_correct), for tests over test images.
    test_correct: str | None = None
    error: str | None = None
    oom_retries: int = 0  # restarts at half the batch after running out of GPU memory; batch_size is the last
    # "computed" or "reused" when this linear probe trained its head on cached frozen features
    # (their computing time is in the first epoch's train_seconds of the run that computed them).
    feature_cache: str | None = None
    head_lr: float | None = None  # the new head's peak rate (lr x head_lr_mult for pretrained-recipe arms)
    # What the budget gave this run: "epochs", "steps", "converged"; how far it went and why it stopped
    # (epochs / steps: the budget was spent; plateau / cap under converged; diverged; cancelled).
    budget: str | None = None
    steps_done: int = 0
    epochs_done: int = 0
    stop_reason: str | None = None
    # Where it ran, kept with the run (a reused run keeps its own): timing compares only like with like.
    machine: str | None = None
    threads: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


EXPLODED_LOSS_FACTOR = 100.0
# Training images evaluated without augmentation after every epoch (all of them when fewer): the
# overfitting view's train accuracy. A fixed, evenly spread sample keeps it cheap on large subsets.
PLAIN_TRAIN_SAMPLE = 1000
# Below this a batch is too small for BatchNorm statistics to mean much; better to fail clearly.
OOM_MIN_BATCH = 8


class Cancelled(Exception):
    pass


def _normaliser(backbone, data_channels: int, device):
    mean = torch.tensor(backbone.mean, device=device).view(1, -1, 1, 1)[:, : backbone.in_chans]
    std = torch.tensor(backbone.std, device=device).view(1, -1, 1, 1)[:, : backbone.in_chans]
    repeat = backbone.in_chans == 3 and data_channels == 1

    def to_input(x: torch.Tensor) -> torch.Tensor:
        if repeat:  # gray scans into an RGB backbone: the same intensity in every channel
            x = x.expand(-1, 3, -1, -1)
        return (x - mean) / std

    return to_input


def _param_groups(model: nn.Module, head: nn.Module, lr: float, head_lr: float, weight_decay: float):
    # Decay only weight matrices and kernels: decaying BatchNorm scales and biases hurts small-data runs.
    head_ids = {id(p) for p in head.parameters()}
    groups: dict[tuple[bool, bool], list] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((id(p) in head_ids, p.ndim > 1), []).append(p)
    return [
        {"params": ps, "lr": head_lr if is_head else lr, "weight_decay": weight_decay if decay else 0.0,
         "part": "head" if is_head else "body"}
        for (is_head, decay), ps in sorted(groups.items())
    ]


def _rates(opt) -> dict[str, float | None]:
    """The rates in use now, body and head apart; None for a part with nothing to train (a probe's body)."""
    rates: dict[str, float | None] = {"lr_body": None, "lr_head": None}
    for g in opt.param_groups:
        rates[f"lr_{g['part']}"] = g["lr"]
    return rates


def _optimizer(name: str, groups: list[dict], lr: float):
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # On the CPU there is no per-run counter: this is the process's peak resident memory.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    batch = run.batch_size(len(data.train_indices(run.size, run.seed)))
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


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _train_at_batch(
    run: RunSpec,
    data: DeviceData,
    device: torch.device,
    batch: int,
    on_epoch: Callable[[dict], None] | None,
    should_stop: Callable[[], bool] | None,
    on_step: Callable[[int, int], None] | None,
) -> RunResult:
    spec = run.experiment
    torch.manual_seed(run.seed)
    cuda = device.type == "cuda"

    backbone = create_backbone(
        run.model,
        num_classes=len(data.class_names),
        pretrained=run.pretrained,
        weights=spec.weights if run.pretrained else None,
        in_chans=data.images.shape[1],
    )
    depth = run.depth
    freeze = apply_freeze(backbone, depth)
    model = backbone.model.to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    to_input = _normaliser(backbone, data.images.shape[1], device)

    train_idx = data.train_indices(run.size, run.seed).to(device)
    y_train, y_val = data.labels[train_idx], data.val_labels
    drop = head_dropout(backbone) if run.caches_features else None
    features = reused = None
    if drop is not None:
        # Random bodies differ per seed (the init is seeded): their features are cached per seed.
        key = (run.model, spec.weights, spec.weights_key) if run.pretrained else (run.model, "random", run.seed)
        features, reused = frozen_features(backbone, data, to_input, device, key)
        x_train = features.images[train_idx]
        x_val = features.images[data.splits.val.to(device)]
        x_test = features.test
        head = backbone.head
    else:
        # The training subset always goes to the device, also when the whole dataset stays on the host.
        x_train = data.images[train_idx.to(data.images.device)].to(device, non_blocking=True)
        x_val, x_test = data.val_images, data.test_images

    def forward_batch(idx: torch.Tensor) -> torch.Tensor:
        if features is not None:  # the body is frozen and deterministic: only the head runs
            return head(nn.functional.dropout(x_train[idx], drop, training=True) if drop else x_train[idx])
        x = to_input(augment(x_train[idx].float().div_(255), spec.augment, aug_gen))
        return model(x.contiguous(memory_format=torch.channels_last) if cuda else x)

    def evaluate(x, y, loss):
        if features is not None:
            return predict_features(head, x, y, device, loss)
        return predict(model, x, y, to_input, device, loss)
    n = len(train_idx)
    plain = _even_sample(n, PLAIN_TRAIN_SAMPLE, x_train.device)
    x_plain, y_plain = (x_train, y_train) if plain is None else (x_train[plain], y_train[plain])
    steps_per_epoch = math.ceil(n / batch)
    budget = Budget(spec, steps_per_epoch)
    total_steps = budget.total_steps

    groups = _param_groups(model, backbone.head, run.lr, run.lr * run.head_lr_mult, spec.weight_decay)
    opt = _optimizer(spec.optimizer, groups, run.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, budget.lr_factor)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)
    # Shuffling and augmentation draw from their own generator: the same seed gives the same
    # batches and the same augmentations for both arms of a pair.
    gen = torch.Generator(device="cpu").manual_seed(run.seed)
    aug_gen = torch.Generator(device=device).manual_seed(run.seed + 1)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    result = RunResult(
        arm=run.arm, size=run.size, seed=run.seed, freeze=run.freeze, model=run.model,
        config_hash=run.config_hash(), status="done", device=str(device),
        trainable_params=freeze.trainable_params, total_params=freeze.total_params,
        frozen_stages=list(freeze.frozen_stages), pretrained_source=backbone.pretrained_source,
        lr=run.lr, n_train=n, subset_hash=_fingerprint(train_idx), batch_size=batch,
        feature_cache=None if features is None else "reused" if reused else "computed",
        head_lr=run.lr * run.head_lr_mult, budget=spec.budget, machine=describe_device(device),
        threads=torch.get_num_threads(),
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    # Chance-level cross-entropy is ln(classes); a mean loss a hundred times that only comes from
    # weights that have blown up, and such runs only get slower (NaN arithmetic) and never recover.
    exploded = EXPLODED_LOSS_FACTOR * max(1.0, math.log(len(data.class_names)))
    elapsed_train = 0.0
    loop_seconds = 0.0  # optimizer steps only: the per-step cost, without computing cached features
    images_seen = 0
    step = 0
    chosen = None  # (epoch record, test predictions, test metrics, weights) of the model the run reports
    for epoch in range(1, budget.max_epochs + 1):
        steps_now = budget.steps_in_epoch(epoch)
        set_train_mode(backbone, depth)
        perm = torch.randperm(n, generator=gen)
        if n % batch:  # wrap around so every batch has the same shape (no recompiles, steady kernels)
            perm = torch.cat([perm, perm[: batch - n % batch]])
        perm = perm.to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        _sync(device)
        t0 = time.perf_counter()
        for i in range(steps_now):
            if should_stop is not None and should_stop():
                result.status = "cancelled"
                break
            idx = perm[i * batch : (i + 1) * batch]
            y = y_train[idx]
            with autocast:
                logits = forward_batch(idx)
                loss = loss_fn(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            if on_step is not None:
                on_step(step, total_steps)
        _sync(device)
        train_seconds = time.perf_counter() - t0
        loop_seconds += train_seconds
        if epoch == 1 and features is not None and not reused:
            train_seconds += features.seconds  # computing the features is part of training this run
        if result.status == "cancelled":
            break
        elapsed_train += train_seconds
        seen = steps_now * batch
        images_seen += seen
        train_loss = loss_sum.item() / seen

        t1 = time.perf_counter()
        val_loss, val_pred = evaluate(x_val, y_val, loss_fn)
        _, test_pred = evaluate(x_test, data.test_labels, None)
        train_acc_clean = _clean_accuracy(evaluate(x_plain, y_plain, None)[1], y_plain)
        test_metrics = classification_metrics(data.test_labels, test_pred, len(data.class_names))
        eval_seconds = time.perf_counter() - t1
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": correct.item() / seen,
            # This epoch's model on (up to PLAIN_TRAIN_SAMPLE of) its training images without augmentation:
            # train_acc above is a running mean over augmented batches while the weights still change.
            "train_acc_clean": train_acc_clean,
            "val_loss": val_loss,
            "val_acc": (val_pred == y_val).float().mean().item() if len(y_val) else float("nan"),
            "test_acc": test_metrics["acc"],
            "test_balanced_acc": test_metrics["balanced_acc"],
            "test_macro_f1": test_metrics["macro_f1"],
            "train_seconds": train_seconds,
            "elapsed_train_seconds": elapsed_train,
            "eval_seconds": eval_seconds,
            "images_per_sec": seen / train_seconds if train_seconds > 0 else float("nan"),
            **_rates(opt),
            "batch_size": batch,
            "peak_mem_mb": _peak_memory_mb(device),
        }
        result.epochs.append(record)
        result.epochs_done, result.steps_done = epoch, step
        if on_epoch is not None:
            on_epoch(record)
        if not math.isfinite(train_loss) or train_loss > exploded:
            # A NaN or exploding loss is a result (the learning rate is too high for this arm),
            # not a crash: keep what was measured and say so.
            result.status = "diverged"
            result.stop_reason = "diverged"
            result.error = f"training loss became {train_loss:.4g} in epoch {epoch}; try a lower learning rate"
            break
        improved, stop = budget.end_epoch(epoch, record["val_acc"])
        if not budget.selects_best or improved:
            weights = {k: v.detach().clone() for k, v in model.state_dict().items()} if budget.selects_best else None
            chosen = (record, test_pred, test_metrics, weights)
        if stop is not None:
            result.stop_reason = stop
            break
    if result.status == "cancelled":
        result.stop_reason = "cancelled"

    if chosen is not None and result.status == "done":
        record, test_pred, test_metrics, weights = chosen
        if weights is not None:
            model.load_state_dict(weights)
        best = max(result.epochs, key=lambda r: (r["val_acc"], -r["epoch"]))
        result.final = {
            "test_acc": record["test_acc"],
            "val_acc": record["val_acc"],
            "test_balanced_acc": record["test_balanced_acc"],
            "test_macro_f1": record["test_macro_f1"],
            "train_acc": record["train_acc"],
            # The reported model on its own training images without augmentation: what "fits the
            # training data" means (the running train_acc mixes augmented images and an older model).
            "train_acc_clean": _clean_accuracy(evaluate(x_train, y_train, None)[1], y_train),
            "final_epoch": record["epoch"],
            "train_seconds": elapsed_train,
            "images_per_sec": images_seen / elapsed_train if elapsed_train > 0 else float("nan"),
            "seconds_per_step": loop_seconds / step if step else float("nan"),
            "best_val_acc": best["val_acc"],
            "best_epoch": best["epoch"],
            "test_acc_at_best_val": best["test_acc"],
            "peak_mem_mb": max(r["peak_mem_mb"] for r in result.epochs),
        }
        result.confusion = test_metrics["confusion"]
        result.per_class_acc = test_metrics["per_class_acc"]
        result.misclassified = _misclassified_sample(data.test_labels, test_pred)
        result.test_correct = pack_correct((test_pred == data.test_labels).cpu().numpy())
    return result


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
