"""Freezing depth: keep the first d stages of a pretrained backbone fixed and train the rest.

Depth 0 fine-tunes everything; depth "all" (= number of stages) trains only the new head, a linear
probe. Frozen stages are a prefix of the network and the input needs no gradient, so autograd records
nothing until the first trainable stage: the backward pass skips the frozen part entirely, which is
why freezing also makes training faster.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcompare.errors import UserError
from tlcompare.models.backbone import Backbone


@dataclass
class FreezeInfo:
    depth: int
    frozen_stages: list[str]
    trainable_params: int
    total_params: int


def resolve_depth(backbone: Backbone, depth: int | str) -> int:
    """Turn ``depth`` (0..number of stages, or "all") into a stage count, or say what is valid."""
    n = len(backbone.stages)
    if depth == "all":
        return n
    if isinstance(depth, str) and depth.strip().isdigit():
        depth = int(depth)
    if isinstance(depth, int) and not isinstance(depth, bool) and 0 <= depth <= n:
        return depth
    stages = ", ".join(f"{i} {name}" for i, name in enumerate(backbone.stage_names, start=1))
    raise UserError(
        f"freeze depth {depth!r} is out of range for {backbone.name}: use 0 (fine-tune everything) to "
        f"{n} or 'all' (linear probe); depth d freezes the first d stages: {stages}"
    )


def apply_freeze(backbone: Backbone, depth: int | str) -> FreezeInfo:
    """Make the first ``depth`` stages non-trainable and everything after them trainable."""
    d = resolve_depth(backbone, depth)
    backbone.model.requires_grad_(True)
    for stage in backbone.stages[:d]:
        for module in stage.modules:
            module.requires_grad_(False)
    params = list(backbone.model.parameters())
    return FreezeInfo(
        depth=d,
        frozen_stages=backbone.stage_names[:d],
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_params=sum(p.numel() for p in params),
    )


def set_train_mode(backbone: Backbone, frozen: int) -> None:
    """``model.train()``, except that the first ``frozen`` stages stay in eval mode.

    ``frozen`` is a stage count as ``apply_freeze`` resolved it (``FreezeInfo.depth``): the depth is
    resolved once per run, not at every epoch. In train mode BatchNorm normalises with batch
    statistics and overwrites its running statistics, so a "frozen" stage would still drift away
    from the pretrained model. Call this at the start of every training epoch (after any
    ``model.eval()`` for validation).
    """
    backbone.model.train()
    for stage in backbone.stages[:frozen]:
        for module in stage.modules:
            module.eval()
