"""Pooled features of EfficientNet-Lite0 on 200 digits training images (20 per class, seed 0):
how many are constant, and their spread, pretrained and random, at several resolutions; for the
random body also after its BatchNorm statistics are estimated on those images (train/bn_stats.py).

    python benchmarks/feature_scale.py            # 32, 64 and 96 px, CPU, about a minute

The figures quoted in README ("Resolution", the random-features control) come from this script;
they do not depend on the machine (CPU, fp32, fixed seeds).
"""

from __future__ import annotations

import sys

import torch

from tlcompare.models import apply_freeze, create_backbone
from tlcompare.spec import build_spec
from tlcompare.train import prepare
from tlcompare.train.bn_stats import estimate_bn_statistics
from tlcompare.train.inputs import normaliser


def pooled(backbone, images, to_input) -> torch.Tensor:
    """The head's input (the pooled features) for ``images``, in eval mode."""
    seen: list[torch.Tensor] = []
    hook = backbone.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].flatten(1)))
    backbone.model.eval()
    with torch.no_grad():
        backbone.model(to_input(images.float() / 255))
    hook.remove()
    return seen[0]


def describe(features: torch.Tensor) -> str:
    spread = features.std(0)
    return f"{100 * (spread < 1e-6).float().mean():.1f} % constant, mean std {spread.mean():.3f}"


def main(sizes=(32, 64, 96)) -> None:
    torch.set_num_threads(1)
    for size in sizes:
        # held_out: all 200 labelled images train (the figures in spec.py's LOW_RESOLUTION note)
        spec = build_spec(dict(dataset="digits", sizes=[20], seeds=[0], image_size=size, device="cpu",
                               validation="held_out"))
        data = prepare(spec, torch.device("cpu"))
        images = data.images[data.train_indices(20, 0, spec.validation)]
        for pretrained in (True, False):
            torch.manual_seed(0)
            body = create_backbone("efficientnet_lite0", num_classes=10, pretrained=pretrained, in_chans=1)
            apply_freeze(body, "all")
            to_input = normaliser(body, 1, torch.device("cpu"))
            line = f"{size} px, {'pretrained' if pretrained else 'random'}: {describe(pooled(body, images, to_input))}"
            if not pretrained:
                estimate_bn_statistics(body.model, images, to_input)
                line += f"; BatchNorm estimated on the images: {describe(pooled(body, images, to_input))}"
            print(f"{line} ({len(images)} images, 1,280 features)")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (32, 64, 96))
