"""What a built model looks like to the rest of tlcompare: the network, its stages and its new head."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass
class Stage:
    """A group of modules frozen or trained together; freezing depth d freezes the first d stages."""

    name: str  # shown in the UI and in error messages, e.g. "stem", "layer1", "blocks.3"
    modules: list[nn.Module]

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules for p in m.parameters()]


@dataclass
class Backbone:
    """A classifier ready to train: ``model(x)`` maps normalised N x in_chans x H x W images to logits.

    ``stages`` are ordered from input to output and, with ``head``, hold every parameter exactly once.
    ``in_chans`` is what the model takes, which may differ from what was asked for: the ImageNet
    backbones always take 3 channels, so the training loop repeats gray images to RGB for them.
    ``mean`` and ``std`` normalise images scaled to [0, 1], per RGB channel (a 1-channel model uses
    the first value).
    """

    name: str
    model: nn.Module
    stages: list[Stage]
    head: nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    in_chans: int
    pretrained_source: str | None

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def head_prefix(self) -> str:
        """State-dict key prefix of the head (e.g. ``"fc."``): a checkpoint's old head is skipped by it."""
        for name, module in self.model.named_modules():
            if module is self.head:
                return name + "."
        raise AssertionError(f"{self.name}: the head is not a submodule of the model")
