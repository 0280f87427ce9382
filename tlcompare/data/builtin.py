"""Built-in datasets that ship with Python packages, so they work offline."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from tlcompare.data.base import ImageDataset
from tlcompare.errors import DataUnavailable

DIGITS_LICENCE = "BSD-3-Clause (scikit-learn; UCI optical recognition of handwritten digits)"
ELPV_LICENCE = (
    "CC BY-NC-SA 4.0: non-commercial use only (Buerhop-Lutz et al., ELPV dataset; "
    "https://github.com/zae-bayern/elpv-dataset)"
)


def load_digits() -> ImageDataset:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    # Pixel values are counts 0..16 of an 4x4 block of a 32x32 bitmap: scale to the uint8 range.
    images = np.round(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return ImageDataset(
        name="digits",
        images=torch.from_numpy(images).unsqueeze(1).contiguous(),
        labels=torch.from_numpy(bunch.target.astype(np.int64)),
        class_names=[str(i) for i in range(10)],
        licence=DIGITS_LICENCE,
        description="1,797 handwritten digits, 8x8 grayscale, 10 classes (ships with scikit-learn).",
    )


def elpv_unavailable() -> str | None:
    if importlib.util.find_spec("elpv_dataset") is None:
        return "the ELPV images come from the PyPI package elpv-dataset: pip install elpv-dataset"
    return None


def load_elpv(levels: int = 2) -> ImageDataset:
    reason = elpv_unavailable()
    if reason:
        raise DataUnavailable(reason)
    from elpv_dataset.utils import load_dataset

    images, probs, module_types = load_dataset()
    images = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    probs = np.asarray(probs, dtype=np.float64)
    if levels == 2:
        labels = (probs >= 0.5).astype(np.int64)
        class_names = ["functional", "defective"]
        desc = "2,624 electroluminescence scans of solar cells, 300x300 grayscale: functional vs defective (defect probability >= 0.5)."
    else:
        # The annotators' defect probabilities are exactly 0, 1/3, 2/3 and 1.
        labels = np.round(probs * 3).astype(np.int64)
        class_names = ["p=0 functional", "p=1/3 possibly defective", "p=2/3 likely defective", "p=1 defective"]
        desc = "2,624 electroluminescence scans of solar cells, 300x300 grayscale: four levels of defect probability."
    return ImageDataset(
        name="elpv" if levels == 2 else "elpv4",
        images=images,
        labels=torch.from_numpy(labels),
        class_names=class_names,
        licence=ELPV_LICENCE,
        description=desc,
        extra={"module_type": [str(m) for m in module_types]},
    )
