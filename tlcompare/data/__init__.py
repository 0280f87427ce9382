"""Dataset sources behind one interface: ``load_dataset(name) -> ImageDataset``."""

from __future__ import annotations

from pathlib import Path

from tlcompare.data import builtin, idx
from tlcompare.data.base import DatasetInfo, ImageDataset
from tlcompare.data.cache import cached_dataset
from tlcompare.errors import DataUnavailable, UserError

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits", title="Handwritten digits (scikit-learn)", num_classes=10, num_images="1,797",
        image_size="8x8 gray", licence=builtin.DIGITS_LICENCE,
        description="Tiny, ships with scikit-learn: the quick offline demo.",
        loader=lambda root=None: builtin.load_digits(), unavailable_reason=lambda root=None: None,
    ),
    "elpv": DatasetInfo(
        name="elpv", title="ELPV solar cells: defective vs functional", num_classes=2, num_images="2,624",
        image_size="300x300 gray", licence=builtin.ELPV_LICENCE,
        description="Electroluminescence scans of solar cells; a real industrial inspection task.",
        loader=lambda root=None: builtin.load_elpv(2), unavailable_reason=lambda root=None: builtin.elpv_unavailable(),
        non_commercial=True,
    ),
    "elpv4": DatasetInfo(
        name="elpv4", title="ELPV solar cells: 4 defect-probability levels", num_classes=4, num_images="2,624",
        image_size="300x300 gray", licence=builtin.ELPV_LICENCE,
        description="The same scans with the annotators' four defect-probability levels.",
        loader=lambda root=None: builtin.load_elpv(4), unavailable_reason=lambda root=None: builtin.elpv_unavailable(),
        non_commercial=True,
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist", title="Fashion-MNIST", num_classes=10, num_images="60,000 + 10,000 test",
        image_size="28x28 gray", licence=idx.FASHION_LICENCE,
        description="Zalando clothing thumbnails; official test split.",
        loader=lambda root=None: idx.load_idx_dataset("fashion-mnist", root),
        unavailable_reason=lambda root=None: idx.idx_unavailable("fashion-mnist", root),
    ),
    "mnist": DatasetInfo(
        name="mnist", title="MNIST", num_classes=10, num_images="60,000 + 10,000 test",
        image_size="28x28 gray", licence=idx.MNIST_LICENCE,
        description="Handwritten digits; official test split.",
        loader=lambda root=None: idx.load_idx_dataset("mnist", root),
        unavailable_reason=lambda root=None: idx.idx_unavailable("mnist", root),
    ),
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise UserError(f"unknown dataset '{name}': choose one of {', '.join(DATASETS)}") from None


def load_dataset(name: str, data_root: str | Path | None = None) -> ImageDataset:
    """Load a dataset by name, decoding it once and caching the tensors under TLCOMPARE_HOME."""
    info = dataset_info(name)
    # No unavailable_reason() check first: it only says what is on disk, while a loader may still
    # download; each loader raises DataUnavailable itself when it cannot get the data.
    try:
        return cached_dataset({"name": name, "root": str(data_root or "")}, lambda: info.loader(data_root))
    except DataUnavailable as e:
        raise DataUnavailable(f"dataset '{name}' is not available: {e}") from None
