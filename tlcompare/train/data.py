"""Put an experiment's images on the device once, as uint8 at the training resolution.

Every run of an experiment then slices its training subset out of these tensors: nothing is
decoded, resized or copied from the host per run or per batch.

A dataset larger than the GPU memory budget (``TLCOMPARE_GPU_DATA_FRACTION`` of the free memory,
default 0.5) stays in pinned host memory instead: each run copies only its training subset to the
GPU, and evaluation streams the validation and test images in chunks with asynchronous copies.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from tlcompare.data import load_dataset
from tlcompare.data.base import ImageDataset
from tlcompare.data.sources import skipped_note
from tlcompare.data.splits import Splits, check_sizes, make_splits, run_split
from tlcompare.spec import ExperimentSpec

log = logging.getLogger("tlcompare.data")


@dataclass
class DeviceData:
    images: torch.Tensor  # uint8 N x C x S x S on the device (or pinned host memory): every non-test image
    labels: torch.Tensor  # int64 N on the device
    test_images: torch.Tensor
    test_labels: torch.Tensor
    splits: Splits
    class_names: list[str]
    dataset: ImageDataset
    # Frozen features of these images, computed by the first linear probe that needs them
    # (tlcompare.train.features), keyed by model and weights.
    features: dict = field(default_factory=dict, repr=False)
    on_host: bool = False  # the images stay in host memory: over the GPU memory budget

    def train_indices(self, size: int, seed: int, validation: str) -> torch.Tensor:
        """The training images of one run; ``validation`` has no default: a run's own mode decides
        (under within a fifth of the N labelled images validate and do not train)."""
        return run_split(self.splits, size, seed, validation)[0]

    def run_split(self, size: int, seed: int, validation: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(training, validation) indices of one run (data/splits.py ``run_split``)."""
        return run_split(self.splits, size, seed, validation)


def resize_uint8(images: torch.Tensor, size: int, device: torch.device, chunk: int = 2048,
                 host: bool = False) -> torch.Tensor:
    """Resize uint8 images to size x size on ``device``, in chunks to bound the float copies.

    ``host``: keep the result in (pinned, on CUDA) host memory; the resizing still runs on ``device``.
    """
    n, c, h, w = images.shape
    if host:
        out = torch.empty((n, c, size, size), dtype=torch.uint8, pin_memory=device.type == "cuda")
        if (h, w) == (size, size):
            return out.copy_(images)
    elif (h, w) == (size, size):
        return images.to(device)
    else:
        out = torch.empty((n, c, size, size), dtype=torch.uint8, device=device)
    for start in range(0, n, chunk):
        x = images[start : start + chunk].to(device).float()
        # Antialiasing matters when shrinking (300 px scans to 64 px) and is a no-op when enlarging.
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=size < max(h, w), align_corners=False)
        out[start : start + chunk] = x.round_().clamp_(0, 255).to(torch.uint8).to(out.device)
    return out


def fits_on_device(n_bytes: int, device: torch.device, budget_bytes: int | None = None) -> bool:
    """Whether ``n_bytes`` of images may live on ``device`` (always on the CPU)."""
    if budget_bytes is None:
        if device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(device)
        budget_bytes = int(float(os.environ.get("TLCOMPARE_GPU_DATA_FRACTION", "0.5")) * free)
    return n_bytes <= budget_bytes


def prepare(spec: ExperimentSpec, device: torch.device, dataset: ImageDataset | None = None,
            budget_bytes: int | None = None) -> DeviceData:
    """The experiment's images at its resolution, on ``device`` when they fit ``budget_bytes``
    (default: a share of the GPU's free memory), else in pinned host memory."""
    ds = dataset if dataset is not None else load_dataset(spec.dataset, spec.data_root, image_size=spec.image_size)
    note = skipped_note(ds, spec.dataset)
    if note:
        log.warning(note)
    splits = make_splits(ds, spec.val_fraction, spec.test_fraction, spec.split_seed)
    check_sizes(splits, spec.sizes)
    n = len(ds.images) + (len(ds.test_images) if splits.test is None else 0)
    n_bytes = n * ds.images.shape[1] * spec.image_size**2
    host = not fits_on_device(n_bytes, device, budget_bytes)
    if host:
        log.warning("the images take %.1f GB at %d px, over the GPU memory budget: they stay in pinned host "
                    "memory and each run copies its training subset to the GPU", n_bytes / 1e9, spec.image_size)
    images = resize_uint8(ds.images, spec.image_size, device, host=host)
    labels = ds.labels.to(device)
    if splits.test is None:
        test_images = resize_uint8(ds.test_images, spec.image_size, device, host=host)
        test_labels = ds.test_labels.to(device)
    else:
        test_images, test_labels = images[splits.test.to(images.device)], labels[splits.test.to(device)]
        if host and device.type == "cuda":
            test_images = test_images.pin_memory()
    return DeviceData(images, labels, test_images, test_labels, splits, list(ds.class_names), ds, on_host=host)
