"""Where tlcompare keeps its files: TLCOMPARE_HOME, default ~/.tlcompare."""

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("TLCOMPARE_HOME", Path.home() / ".tlcompare")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(*parts: str) -> Path:
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Decoded-tensor caches: safe to delete, rebuilt on demand."""
    return subdir("cache")


def data_root() -> Path:
    """Default root for raw dataset files in torchvision's layout (``<root>/MNIST/raw/...``)."""
    return subdir("data")
