"""The optimizer, its schedule, and one optimizer step.

The estimate's throughput probe (``estimate.runtime``) times this same ``train_step``, so the speed
the form quotes is the speed of a run's step.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from tlcompare.train.budget import Budget


def param_groups(model: nn.Module, head: nn.Module, lr: float, head_lr: float, weight_decay: float) -> list[dict]:
    """The trainable parameters in groups: body and head at their own rates, decayed or not."""
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


def make_optimizer(name: str, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))


def optimizer_and_schedule(run, backbone, budget: Budget):
    """The run's optimizer over its trainable parameters, and the budget's rate schedule on it."""
    spec = run.experiment
    groups = param_groups(backbone.model, backbone.head, run.lr, run.lr * run.head_lr_mult, spec.weight_decay)
    opt = make_optimizer(spec.optimizer, groups, run.lr)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, budget.lr_factor)


def rates(opt: torch.optim.Optimizer) -> dict[str, float | None]:
    """The rates in use now, body and head apart; None for a part with nothing to train (a probe's body)."""
    now: dict[str, float | None] = {"lr_body": None, "lr_head": None}
    for g in opt.param_groups:
        now[f"lr_{g['part']}"] = g["lr"]
    return now


def train_step(inputs, idx: torch.Tensor, opt, sched, loss_fn, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on the batch ``idx`` of ``inputs`` (an ``inputs.Inputs``).

    Returns the batch's summed loss and its count of correct predictions, as tensors on the device:
    reading them here would wait for the GPU at every step. ``sched`` may be None (the probe).
    """
    # The batch is made under autocast too: on CUDA the resized crop's sampling grid (an affine
    # matmul) is computed in bf16, as it always has been; on the CPU autocast is off.
    with autocast:
        x, y = inputs.batch(idx)
        logits = inputs.part(x)
        loss = loss_fn(logits.float(), y)  # float32 logits: a log-softmax in bf16 is coarse
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return loss.detach() * len(y), (logits.argmax(1) == y).sum()
