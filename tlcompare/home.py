"""Where tlcompare keeps its files: TLCOMPARE_HOME, default ~/.tlcompare."""

import os
from pathlib import Path

from tlcompare.errors import UserError
from tlcompare.text.escape import printable


def home() -> Path:
    raw = os.environ.get("TLCOMPARE_HOME")
    if raw is not None and not raw.strip():
        # An empty value would put the store in whatever folder the command ran from.
        raise UserError("TLCOMPARE_HOME is set but empty: unset it (the default is ~/.tlcompare) or set it to a folder")
    path = Path(raw or Path.home() / ".tlcompare").expanduser()
    try:
        if path.exists() and not path.is_dir():
            raise UserError(f"TLCOMPARE_HOME '{printable(str(path))}' is a file, not a folder: set it to a folder")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create TLCOMPARE_HOME '{printable(str(path))}': {e.strerror or e}; "
                        "set TLCOMPARE_HOME to a writable folder") from None
    return path


def subdir(*parts: str) -> Path:
    path = home().joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create '{printable(str(path))}': {e.strerror or e}; "
                        "set TLCOMPARE_HOME to a writable folder") from None
    return path


def cache_dir() -> Path:
    """Decoded-tensor caches: safe to delete, rebuilt on demand."""
    return subdir("cache")


def data_root() -> Path:
    """Default root for raw dataset files in torchvision's layout (``<root>/MNIST/raw/...``)."""
    return subdir("data")
