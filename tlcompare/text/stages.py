"""Freezing-depth stages in people's words: what a stage responds to, its resolution and channels.

Written down per model (a test checks the shapes against the built models) and kept free of torch,
so the pages that only read the store can describe stages without importing the model registry.
"""

from __future__ import annotations

# What a stage of an image network typically responds to, by how much it has shrunk the image.
STAGE_WORDS = {2: "edges and colours", 4: "edges and textures", 8: "textures and simple shapes",
               16: "parts of objects", 32: "whole-object features"}
_LITE_CHANNELS = {0: (32, 16, 24, 40, 80, 112, 192, 320, 1280), 1: (32, 16, 24, 40, 80, 112, 192, 320, 1280),
                  2: (32, 16, 24, 48, 88, 120, 208, 352, 1280)}
_LITE_STRIDES = (2, 2, 4, 8, 16, 16, 32, 32, 32)
STAGE_SHAPES = {
    **{f"efficientnet_lite{v}": tuple(zip(_LITE_STRIDES, _LITE_CHANNELS[v], strict=True)) for v in _LITE_CHANNELS},
    "resnet18": tuple(zip((2, 4, 8, 16, 32), (64, 64, 128, 256, 512), strict=True)),
    "resnet50": tuple(zip((2, 4, 8, 16, 32), (64, 256, 512, 1024, 2048), strict=True)),
    "mobilenet_v3_large": tuple(zip((2, 2, 4, 8, 16, 32, 32, 0), (16, 16, 24, 40, 112, 160, 960, 1280), strict=True)),
    "small_cnn": ((2, 32), (4, 64), (8, 128), (16, 256)),
}


def stage_count(model: str) -> int | None:
    """How many stages a freezing depth can freeze in ``model`` (None for a model not written down):
    what the spec checks depths against without building, or even importing, the model."""
    shapes = STAGE_SHAPES.get(model)
    return None if shapes is None else len(shapes)


def describe_stages(model: str, image_size: int, stage_names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """'edges and textures (8 px, 24 channels)' per stage; the stages' own names (or nothing, without
    them) where the model's shapes are not written down (a model removed since, say)."""
    shapes = STAGE_SHAPES.get(model, ())
    if stage_names is not None and len(shapes) != len(stage_names):
        return list(stage_names)
    out = []
    for stride, channels in shapes:
        if stride == 0:
            out.append(f"last layer before the classifier ({channels} features)")
            continue
        words = STAGE_WORDS.get(stride, "whole-object features")
        px = max(1, -(-int(image_size) // stride))
        out.append(f"{words} ({px} px, {channels} channels)")
    return out
