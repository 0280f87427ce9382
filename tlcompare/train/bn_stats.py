"""BatchNorm statistics of a random body, estimated on the run's own training images.

The random-features control asks "would any frozen features do as well as the pretrained ones?".
A freshly initialised network keeps BatchNorm running statistics of 0 and 1, which its frozen
stages would then apply to data whose activations are far from that: on 200 digits training images
at 32 px, EfficientNet-Lite0's pooled random features have a mean standard deviation of 0.011 with
the initial statistics and 0.57 once estimated (and 27 % of them are constant before, none after).
That is a weaker control than the standard random-features baseline, which normalises with
statistics of the data (``benchmarks/feature_scale.py`` measures both). So before training, the control's body
runs once over its training images, without gradients and without augmentation, in train mode
with a cumulative average (``momentum = None``): each BatchNorm layer then holds the mean and
variance of its input over those images. Only the training subset is read: the validation and
test images play no part.
"""

from __future__ import annotations

import torch
import torch.nn as nn

# Images per forward pass. Below this, one batch holds the whole subset and each layer's statistics
# are exactly those of its input over the subset; above it they are the mean over batches.
BN_BATCH = 512


@torch.no_grad()
def estimate_bn_statistics(model: nn.Module, images: torch.Tensor, to_input, batch: int = BN_BATCH) -> int:
    """Reset every BatchNorm layer of ``model`` and estimate its statistics on uint8 ``images``
    (one pass, no gradient, no augmentation); returns how many layers were set."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches of this pass
    was_training = model.training
    model.train()
    try:
        for start in range(0, len(images), batch):
            model(to_input(images[start : start + batch].float().div_(255)))
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return len(layers)
