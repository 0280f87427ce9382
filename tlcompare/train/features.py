"""Frozen features computed once: a linear probe without augmentation trains only its head on them.

With every stage below the head frozen (BatchNorm in eval mode) and no augmentation, the head sees
exactly the same input for an image in every epoch, every seed and every training-set size. So the
body runs once over the experiment's images, at the first such run in a process, and each linear
probe then trains and evaluates its head on those features: one forward pass over the data instead
of one per epoch and run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn as nn

from tlcompare.models import set_train_mode
from tlcompare.train.evaluate import image_view, predict


@dataclass
class Features:
    images: torch.Tensor  # float32 N x D on the device: the head's input for every non-test image
    test: torch.Tensor
    seconds: float  # how long computing them took


def head_dropout(backbone) -> float | None:
    """The dropout rate the normal path applies to the head's input while training (0.0 for none).

    None when more than one dropout acts above the frozen body: caching could not reproduce it.
    """
    set_train_mode(backbone, len(backbone.stages))
    rates = [m.p for m in backbone.model.modules() if isinstance(m, nn.Dropout) and m.training and m.p > 0]
    functional = float(getattr(backbone.model, "drop_rate", 0.0) or 0.0)  # timm applies it in forward_head
    if functional > 0:
        rates.append(functional)
    return None if len(rates) > 1 else (rates[0] if rates else 0.0)


def frozen_features(backbone, data, to_input, device: torch.device, key: tuple) -> tuple[Features, bool]:
    """The head's input for every image of ``data``, from its cache or computed now; and whether reused."""
    if key in data.features:
        return data.features[key], True
    captured: list[torch.Tensor] = []
    hook = backbone.head.register_forward_pre_hook(lambda _module, args: captured.append(args[0].float().flatten(1)))
    try:
        t0 = time.perf_counter()
        view = image_view(to_input, device)
        predict(backbone.model, data.images, data.labels, view, device)
        images = torch.cat(captured)
        captured.clear()
        predict(backbone.model, data.test_images, data.test_labels, view, device)
        test = torch.cat(captured) if captured else images.new_zeros((0, images.shape[1]))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        features = Features(images, test, time.perf_counter() - t0)
    finally:
        hook.remove()
    data.features[key] = features
    return features, False

