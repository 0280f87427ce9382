"""Standard benchmark datasets through torchvision (``torchvision:cifar10`` ...), downloaded once.

They are fetched into the tlcompare data root the first time (this needs the internet) and read
from there afterwards. Offline and not yet downloaded, the user gets one line saying so and where
the files would go. Each keeps its official test split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tlcompare.data.base import ImageDataset
from tlcompare.data.cache import cached_dataset
from tlcompare.data.decode import DECODER_VERSION
from tlcompare.data.imagefolder import DEFAULT_CACHE_SIZE, decode_all, stack_images
from tlcompare.errors import DataUnavailable, UserError
from tlcompare.home import data_root

CIFAR_LICENCE = "no licence stated; cite Krizhevsky 2009 (https://www.cs.toronto.edu/~kriz/cifar.html)"


@dataclass(frozen=True)
class TorchvisionSet:
    name: str
    cls: str  # the class in torchvision.datasets
    title: str
    licence: str
    train_splits: tuple[dict, ...]  # keyword arguments of the class, one per split merged into training
    test_split: dict
    decoded: bool  # True: torchvision keeps the pixels in memory; False: it lists image files


TORCHVISION_SETS = {
    s.name: s
    for s in (
        TorchvisionSet("cifar10", "CIFAR10", "CIFAR-10", CIFAR_LICENCE, ({"train": True},), {"train": False}, True),
        TorchvisionSet("cifar100", "CIFAR100", "CIFAR-100", CIFAR_LICENCE, ({"train": True},), {"train": False}, True),
        TorchvisionSet("flowers102", "Flowers102", "Oxford Flowers-102",
                       "no licence stated; cite Nilsback and Zisserman 2008 (https://www.robots.ox.ac.uk/~vgg/data/flowers/102/)",
                       ({"split": "train"}, {"split": "val"}), {"split": "test"}, False),
        TorchvisionSet("oxford-pets", "OxfordIIITPet", "Oxford-IIIT Pet",
                       "CC BY-SA 4.0, images copyright their owners (Parkhi et al. 2012, https://www.robots.ox.ac.uk/~vgg/data/pets/)",
                       ({"split": "trainval"},), {"split": "test"}, False),
    )
}


def torchvision_set(name: str) -> TorchvisionSet:
    try:
        return TORCHVISION_SETS[name]
    except KeyError:
        raise UserError(f"unknown torchvision dataset '{name}'; choose one of {', '.join(TORCHVISION_SETS)}") from None


def load_torchvision(name: str, root: str | Path | None = None, cache_size: int = DEFAULT_CACHE_SIZE,
                     progress: Callable[[int, int], None] | None = None) -> ImageDataset:
    spec = torchvision_set(name)
    root = Path(root).expanduser() if root else data_root()
    key = {"name": f"torchvision-{name}", "root": str(root), "decoder": DECODER_VERSION,
           "cache_size": None if spec.decoded else cache_size}
    return cached_dataset(key, lambda: _build(spec, root, cache_size, progress))


def _build(spec: TorchvisionSet, root: Path, cache_size: int, progress) -> ImageDataset:
    train_parts = [_open(spec, root, kwargs) for kwargs in spec.train_splits]
    test = _open(spec, root, spec.test_split)
    class_names = [str(c) for c in getattr(train_parts[0], "classes", None) or _numbered(train_parts[0])]
    train_x, train_y = _pixels(spec, train_parts, cache_size, progress)
    test_x, test_y = _pixels(spec, [test], cache_size, progress)
    return ImageDataset(
        name=spec.name, images=train_x, labels=train_y, class_names=class_names, licence=spec.licence,
        test_images=test_x, test_labels=test_y,
        description=f"{spec.title} (torchvision): {len(train_y):,} training + {len(test_y):,} official test images, "
                    f"{len(class_names)} classes",
    )


def torchvision_missing(name: str, root: str | Path | None = None) -> str | None:
    """None when the dataset's files are already in the data root, else why not (nothing downloads)."""
    import torchvision.datasets

    spec = torchvision_set(name)
    root = Path(root).expanduser() if root else data_root()
    cls = getattr(torchvision.datasets, spec.cls)
    for kwargs in (*spec.train_splits, spec.test_split):
        try:
            cls(str(root), **kwargs, download=False)
        except (RuntimeError, FileNotFoundError, OSError):
            return f"torchvision:{spec.name} is not downloaded yet (the first run fetches it into {root}; needs the internet)"
    return None


def _open(spec: TorchvisionSet, root: Path, kwargs: dict):
    """The torchvision dataset object, from disk, else downloaded; DataUnavailable when neither works."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.cls)
    try:
        return cls(str(root), **kwargs, download=False)
    except (RuntimeError, FileNotFoundError, OSError):
        pass  # not downloaded yet (or incomplete): fetch it
    try:
        _download(cls, root, kwargs)
        return cls(str(root), **kwargs, download=False)
    except Exception as e:  # whatever the network does, the user's fix is the same
        raise DataUnavailable(
            f"torchvision:{spec.name} is not on this machine and downloading it failed ({_last_line(e)}): "
            f"connect to the internet once (it is kept in {root}), or copy torchvision's files for {spec.title} there"
        ) from None


def _download(cls, root: Path, kwargs: dict) -> None:
    """Fetch one split with torchvision (tests replace this to stay offline)."""
    root.mkdir(parents=True, exist_ok=True)
    cls(str(root), **kwargs, download=True)


def _pixels(spec: TorchvisionSet, parts: list, cache_size: int, progress) -> tuple[torch.Tensor, torch.Tensor]:
    if spec.decoded:  # CIFAR: N x 32 x 32 x 3 uint8 arrays already in memory
        images = torch.from_numpy(np.concatenate([p.data for p in parts])).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor([t for p in parts for t in p.targets], dtype=torch.int64)
        return images, labels
    # Flowers and Pets list JPEG files of every size: decode them the way a user's folder is.
    files = [Path(f) for p in parts for f in (p._image_files if hasattr(p, "_image_files") else p._images)]
    labels = torch.tensor([int(t) for p in parts for t in p._labels], dtype=torch.int64)
    decoded = decode_all(files, cache_size, progress)
    bad = [(f, d.error) for f, d in zip(files, decoded, strict=True) if d.error]
    if bad:
        raise DataUnavailable(f"torchvision:{spec.name} has {len(bad)} unreadable files, e.g. {bad[0][0]} ({bad[0][1]}): "
                              "delete its folder under the data root to download it again")
    images = stack_images([d.pixels for d in decoded])
    return images, labels


def _numbered(ds) -> list[str]:
    return [str(i) for i in range(1 + max(int(t) for t in ds._labels))]


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]
