"""Put an experiment's images on the device once, as uint8 at the training resolution.

Every run of an experiment then slices its training subset out of these tensors: nothing is
decoded, resized or copied from the host per run or per batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from tlcompare.data import load_dataset
from tlcompare.data.base import ImageDataset
from tlcompare.data.sources import skipped_note
from tlcompare.data.splits import Splits, check_sizes, make_splits, train_subset
from tlcompare.spec import ExperimentSpec

log = logging.getLogger("tlcompare.data")


@dataclass
class DeviceData:
    images: torch.Tensor  # uint8 N x C x S x S on the device: every non-test image
    labels: torch.Tensor  # int64 N on the device
    test_images: torch.Tensor
    test_labels: torch.Tensor
    splits: Splits
    class_names: list[str]
    dataset: ImageDataset
    # Frozen features of these images, computed by the first linear probe that needs them
    # (tlcompare.train.features), keyed by model and weights.
    features: dict = field(default_factory=dict, repr=False)

    @property
    def val_images(self) -> torch.Tensor:
        return self.images[self.splits.val.to(self.images.device)]

    @property
    def val_labels(self) -> torch.Tensor:
        return self.labels[self.splits.val.to(self.labels.device)]

    def train_indices(self, size: int, seed: int) -> torch.Tensor:
        return train_subset(self.splits, size, seed)


def resize_uint8(images: torch.Tensor, size: int, device: torch.device, chunk: int = 2048) -> torch.Tensor:
    """Resize uint8 images to size x size on ``device``, in chunks to bound the float copies."""
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images.to(device)
    out = torch.empty((n, c, size, size), dtype=torch.uint8, device=device)
    for start in range(0, n, chunk):
        x = images[start : start + chunk].to(device).float()
        # Antialiasing matters when shrinking (300 px scans to 64 px) and is a no-op when enlarging.
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=size < max(h, w), align_corners=False)
        out[start : start + chunk] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


def prepare(spec: ExperimentSpec, device: torch.device, dataset: ImageDataset | None = None) -> DeviceData:
    ds = dataset if dataset is not None else load_dataset(spec.dataset, spec.data_root, image_size=spec.image_size)
    note = skipped_note(ds, spec.dataset)
    if note:
        log.warning(note)
    splits = make_splits(ds, spec.val_fraction, spec.test_fraction, spec.split_seed)
    check_sizes(splits, spec.sizes)
    images = resize_uint8(ds.images, spec.image_size, device)
    labels = ds.labels.to(device)
    if splits.test is None:
        test_images = resize_uint8(ds.test_images, spec.image_size, device)
        test_labels = ds.test_labels.to(device)
    else:
        test_idx = splits.test.to(device)
        test_images, test_labels = images[test_idx], labels[test_idx]
    return DeviceData(images, labels, test_images, test_labels, splits, list(ds.class_names), ds)
