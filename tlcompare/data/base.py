"""One interface for every image source: uint8 tensors, integer labels, class names, licence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class ImageDataset:
    """A decoded dataset, small enough to live in memory (and on the GPU) as uint8.

    ``images`` is N x C x H x W uint8 (C is 1 or 3), ``labels`` is N int64 in [0, len(class_names)).
    ``test_images``/``test_labels`` hold the official test split when the source has one; otherwise
    tlcompare draws a fixed stratified test set from ``images``.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    licence: str
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for imgs, labs, what in ((self.images, self.labels, "train"), (self.test_images, self.test_labels, "test")):
            if imgs is None:
                continue
            if imgs.dtype != torch.uint8 or imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
                raise ValueError(f"{self.name} {what} images must be uint8 N x C x H x W with C in (1, 3), got {imgs.dtype} {tuple(imgs.shape)}")
            if labs is None or labs.shape != (imgs.shape[0],):
                raise ValueError(f"{self.name} {what} labels must have one entry per image")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def __len__(self) -> int:
        return int(self.images.shape[0]) + (0 if self.test_images is None else int(self.test_images.shape[0]))


@dataclass(frozen=True)
class DatasetInfo:
    """What the dataset pickers show before anything is loaded."""

    name: str
    title: str
    num_classes: int
    num_images: str
    image_size: str
    licence: str
    description: str
    loader: Callable[..., ImageDataset]
    # Returns None when the data can be loaded right now, else the reason it cannot.
    unavailable_reason: Callable[..., str | None]
    non_commercial: bool = False
