"""What the trained part of a model reads: images for the whole network, or cached features for its head.

A run asks its ``Inputs`` for training batches (``batch``) and for predictions (``predict``) and
never needs to know which of the two it holds. Images stay uint8 on the device until a batch is
gathered; a linear probe without augmentation reads the frozen body's output, computed once per
experiment (``features.frozen_features``), so only its head runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from tlcompare.train.augment import augment
from tlcompare.train.evaluate import image_view, predict
from tlcompare.train.features import frozen_features, head_dropout

View = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Inputs:
    part: nn.Module  # what trains on these inputs: the whole model, or only its head on cached features
    x: torch.Tensor  # the training subset on the device: uint8 images, or float features
    y: torch.Tensor
    val: tuple[torch.Tensor, torch.Tensor]  # (inputs, labels); images may be in pinned host memory
    test: tuple[torch.Tensor, torch.Tensor]
    train_view: View  # rows of x as the part trains on them: augmented and normalised, or with dropout
    eval_view: View  # a chunk of x, val or test as the part is evaluated on it
    eval_batch: int
    device: torch.device
    feature_cache: str | None = None  # "computed" or "reused" when these are cached features
    setup_seconds: float = 0.0  # computing the features for this run: part of its first epoch's training

    @property
    def n(self) -> int:
        return len(self.y)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.train_view(self.x[idx]), self.y[idx]

    def predict(self, x: torch.Tensor, y: torch.Tensor, loss_fn=None) -> tuple[float, torch.Tensor]:
        """(mean loss or nan, predictions) of the part, in evaluation mode, on ``x``."""
        return predict(self.part, x, y, self.eval_view, self.device, loss_fn, self.eval_batch)


def normaliser(backbone, data_channels: int, device: torch.device) -> View:
    """Floats in [0, 1] to the backbone's input: its mean and std, gray repeated for an RGB backbone."""
    mean = torch.tensor(backbone.mean, device=device).view(1, -1, 1, 1)[:, : backbone.in_chans]
    std = torch.tensor(backbone.std, device=device).view(1, -1, 1, 1)[:, : backbone.in_chans]
    repeat = backbone.in_chans == 3 and data_channels == 1

    def to_input(x: torch.Tensor) -> torch.Tensor:
        if repeat:  # gray scans into an RGB backbone: the same intensity in every channel
            x = x.expand(-1, 3, -1, -1)
        return (x - mean) / std

    return to_input


def image_inputs(model: nn.Module, to_input: View, x, y, val, test, mode: str, gen: torch.Generator,
                 device: torch.device) -> Inputs:
    """Images through the whole network; each training batch augmented on the device from ``gen``."""
    cuda = device.type == "cuda"

    def train_view(rows: torch.Tensor) -> torch.Tensor:
        batch = to_input(augment(rows.float().div_(255), mode, gen))
        # channels_last on CUDA: the layout cuDNN's bf16 convolutions run natively.
        return batch.contiguous(memory_format=torch.channels_last) if cuda else batch

    return Inputs(model, x, y, val, test, train_view, image_view(to_input, device), 512, device)


def feature_inputs(head: nn.Module, x, y, val, test, drop: float, device: torch.device,
                   feature_cache: str, setup_seconds: float) -> Inputs:
    """Cached features through the head alone, with the dropout the full network applies before it."""

    def train_view(rows: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(rows, drop, training=True) if drop else rows

    return Inputs(head, x, y, val, test, train_view, lambda chunk: chunk, 4096, device, feature_cache, setup_seconds)


def run_inputs(run, data, backbone, subset: torch.Tensor, device: torch.device, val_idx: torch.Tensor) -> Inputs:
    """The inputs of one run: cached features for a linear probe without augmentation, else images.

    ``subset``, ``val_idx``: the run's training and validation images, as indices into ``data``.
    """
    spec = run.experiment
    to_input = normaliser(backbone, data.images.shape[1], device)
    y = data.labels[subset]
    val_labels = data.labels[val_idx.to(data.labels.device)]
    drop = head_dropout(backbone) if run.caches_features else None
    if drop is None:
        # Shuffling and augmentation draw from their own generators: the same seed gives the same
        # augmentations for both arms of a pair.
        gen = torch.Generator(device=device).manual_seed(run.seed + 1)
        # The training subset always goes to the device, also when the whole dataset stays on the host.
        x = data.images[subset.to(data.images.device)].to(device, non_blocking=True)
        val, test = (data.images[val_idx.to(data.images.device)], val_labels), (data.test_images, data.test_labels)
        return image_inputs(backbone.model, to_input, x, y, val, test, spec.augment, gen, device)
    # Random bodies differ per seed (the init is seeded) and per training subset (their BatchNorm
    # statistics are estimated on it, bn_stats.py): their features are cached per seed, size and
    # validation mode (under within a fifth of the N validate instead of training; a worker keeps one
    # prepared dataset across experiments of either mode).
    key = ((run.model, spec.weights, spec.weights_key) if run.pretrained
           else (run.model, "random", run.seed, run.size, spec.validation))
    features, reused = frozen_features(backbone, data, to_input, device, key)
    val = (features.images[val_idx.to(device)], val_labels)
    return feature_inputs(backbone.head, features.images[subset], y, val, (features.test, data.test_labels), drop,
                          device, "reused" if reused else "computed", 0.0 if reused else features.seconds)
