"""ResNet-18, ResNet-50 and MobileNetV3-Large from torchvision, with torchvision's ImageNet weights.

Pretrained weights come through torchvision's own path (``<Enum>.DEFAULT.get_state_dict``, which is
what ``weights=<Enum>.DEFAULT`` runs): downloaded once to ``$TORCH_HOME/hub/checkpoints/<file name
from the weights URL>`` and read from there afterwards, so a file placed there by hand works offline.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from tlcompare.errors import WeightsUnavailable
from tlcompare.models.backbone import Backbone, Stage
from tlcompare.models.checkpoint import summarize_load_error

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# name -> (torchvision builder, weights enum)
ARCHITECTURES = {
    "resnet18": ("resnet18", "ResNet18_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
    "mobilenet_v3_large": ("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
}

RESNET_STAGES = ["stem", "layer1", "layer2", "layer3", "layer4"]

# features[1:16] are inverted-residual blocks; grouped where the resolution halves (at 224 px:
# 112, 56, 28, 14, 7), like ResNet's layer1..layer4, so one depth step freezes one resolution.
_MOBILENET_GROUPS = [(1, 2), (2, 4), (4, 7), (7, 13), (13, 16)]
MOBILENET_STAGES = (
    ["stem"]
    + [f"features.{a}" if b - a == 1 else f"features.{a}-{b - 1}" for a, b in _MOBILENET_GROUPS]
    + ["last conv", "pre-logits linear"]
)


def default_weights(name: str):
    from torchvision import models

    return getattr(models, ARCHITECTURES[name][1]).DEFAULT


def cached_weights_path(name: str) -> Path:
    """Where torchvision keeps (or will download) the default weights of ``name``."""
    url = default_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def weights_unavailable(name: str) -> str | None:
    path = cached_weights_path(name)
    if path.is_file():
        return None
    return (
        f"ImageNet weights for {name} are downloaded by torchvision on first use (needs internet once) "
        f"to {path}, or pass a local checkpoint with --weights PATH"
    )


def build(name: str, num_classes: int, pretrained: bool) -> Backbone:
    """Build ``name`` with a fresh ``num_classes`` head; with ImageNet weights below it if ``pretrained``."""
    weights = default_weights(name) if pretrained else None
    # Both arms build the 1000-class model and then swap in the same kind of fresh head, so the
    # weights argument is the only difference between them.
    model = _build_with_weights(name, weights)
    if name.startswith("resnet"):
        model.fc = head = nn.Linear(model.fc.in_features, num_classes)
        stages = _resnet_stages(model)
    else:
        model.classifier[3] = head = _mobilenet_head(model.classifier[3].in_features, num_classes)
        stages = _mobilenet_stages(model)
    return Backbone(
        name=name,
        model=model,
        stages=stages,
        head=head,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        in_chans=3,
        pretrained_source=f"torchvision {weights}" if weights is not None else None,
    )


def _build_with_weights(name: str, weights) -> nn.Module:
    from torchvision import models

    model = getattr(models, ARCHITECTURES[name][0])(weights=None)
    if weights is None:
        return model
    path = cached_weights_path(name)
    was_cached = path.is_file()
    delete_it = (
        "delete the file so torchvision downloads it again, or pass a local checkpoint with --weights PATH"
    )
    try:
        # What the torchvision builder does with weights=..., plus weights_only=True: the cache is a
        # plain folder, and a file dropped there should not be able to run code when loaded.
        state = weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except OSError as e:  # URLError, HTTPError, socket, SSL and disk errors all derive from OSError
        if was_cached:
            raise WeightsUnavailable(
                f"cannot read the cached ImageNet weights for {name} at {path} ({e}): {delete_it}"
            ) from e
        raise WeightsUnavailable(
            f"cannot download the ImageNet weights for {name} ({_reason(e)}): torchvision downloads them "
            f"on first use (needs internet once) to {path}; or pass a local checkpoint with --weights PATH"
        ) from e
    except Exception as e:
        # Unpickling a damaged file fails in many ways (UnpicklingError, EOFError, KeyError, ...).
        if not was_cached:
            raise
        reason = summarize_load_error(e)
        raise WeightsUnavailable(
            f"the cached ImageNet weights for {name} at {path} are damaged ({reason}): {delete_it}"
        ) from e
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsUnavailable(
            f"the cached ImageNet weights for {name} at {path} are not a {name} state dict: {delete_it}"
        ) from e
    return model


def _reason(error: OSError) -> str:
    reason = getattr(error, "reason", None) or error  # URLError keeps the socket error in .reason
    text = str(reason).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _mobilenet_head(in_features: int, num_classes: int) -> nn.Linear:
    head = nn.Linear(in_features, num_classes)
    # torchvision's MobileNetV3 initialises its Linear layers this way; keep it for the new head.
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    return head


def _resnet_stages(model: nn.Module) -> list[Stage]:
    stages = [Stage("stem", [model.conv1, model.bn1])]
    stages += [Stage(name, [getattr(model, name)]) for name in RESNET_STAGES[1:]]
    return stages


def _mobilenet_stages(model: nn.Module) -> list[Stage]:
    features = model.features
    groups = [list(features[a:b]) for a, b in _MOBILENET_GROUPS]
    # classifier[1:3] (Hardswish, Dropout) hold no parameters and stay with the head, so dropout
    # before the new head stays on in training, as timm's EfficientNet does for its head.
    modules = [[features[0]], *groups, [features[16]], [model.classifier[0]]]
    return [Stage(name, mods) for name, mods in zip(MOBILENET_STAGES, modules, strict=True)]
