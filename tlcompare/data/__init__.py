"""Dataset sources behind one interface: ``load_dataset(name) -> ImageDataset``.

``name`` is a built-in listed in DATASETS or a source string (see ``tlcompare.data.sources``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tlcompare.data import builtin, idx
from tlcompare.data.base import DatasetInfo, ImageDataset
from tlcompare.data.cache import cache_path, cached_dataset
from tlcompare.errors import DataUnavailable, UserError


def _package_or_cache(name: str) -> Callable[..., str | None]:
    """Available when its package is installed or its decoded images are already cached (a machine
    may be given the cache alone: load_dataset reads the cache before the package)."""
    def reason(root=None) -> str | None:
        missing = builtin.elpv_unavailable()
        return None if missing is None or cache_path(_cache_key(name, root)).exists() else missing
    return reason


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
        loader=lambda root=None: builtin.load_elpv(2), unavailable_reason=_package_or_cache("elpv"),
        non_commercial=True,
    ),
    "elpv4": DatasetInfo(
        name="elpv4", title="ELPV solar cells: 4 defect-probability levels", num_classes=4, num_images="2,624",
        image_size="300x300 gray", licence=builtin.ELPV_LICENCE,
        description="The same scans with the annotators' four defect-probability levels.",
        loader=lambda root=None: builtin.load_elpv(4), unavailable_reason=_package_or_cache("elpv4"),
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
    if name in DATASETS:
        return DATASETS[name]
    if ":" in name:  # imagefolder:PATH, zip:PATH, torchvision:NAME
        from tlcompare.data.sources import source_info

        return source_info(name)
    raise UserError(f"unknown dataset '{name}': choose one of {', '.join(DATASETS)}")


def load_dataset(name: str, data_root: str | Path | None = None, image_size: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> ImageDataset:
    """Load a dataset, decoding it once and caching the tensors under TLCOMPARE_HOME.

    ``name`` is a built-in name or a source string (``imagefolder:PATH``, ``zip:PATH``,
    ``torchvision:NAME``); ``image_size``, the training resolution, decides how large decoded
    photos are stored.
    """
    if name not in DATASETS:
        from tlcompare.data.sources import load_source

        return load_source(name, data_root, image_size=image_size, progress=progress)
    info = dataset_info(name)
    # No unavailable_reason() check first: it only says what is on disk, while a loader may still
    # download; each loader raises DataUnavailable itself when it cannot get the data.
    try:
        return cached_dataset(_cache_key(name, data_root), lambda: info.loader(data_root))
    except DataUnavailable as e:
        raise DataUnavailable(f"dataset '{name}' is not available: {e}") from None


def _cache_key(name: str, data_root: str | Path | None) -> dict:
    return {"name": name, "root": str(data_root or "")}


def check_source(name: str) -> str | None:
    """None when ``name`` is a usable dataset string as far as a cheap check tells, else why not."""
    if name in DATASETS:
        return None
    from tlcompare.data.sources import check_source as check

    return check(name)
