"""What a dataset string names: a built-in, ``imagefolder:PATH``, ``zip:PATH`` or ``torchvision:NAME``.

The string is what an ExperimentSpec stores, so it must be enough to find the data again from
another process: ``canonical_source`` makes paths absolute before a spec keeps them.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tlcompare.content_keys import MAX_PATH
from tlcompare.data.base import DatasetInfo, ImageDataset
from tlcompare.errors import UserError
from tlcompare.text.escape import printable

KINDS = ("imagefolder", "zip", "torchvision")
FORMS = "imagefolder:PATH (one sub-folder per class), zip:PATH or torchvision:NAME"


@dataclass(frozen=True)
class Source:
    kind: str  # "builtin" or one of KINDS
    target: str  # the name (builtin, torchvision) or the path (imagefolder, zip)

    @property
    def path(self) -> Path:
        return Path(self.target).expanduser()


def parse_source(text: str) -> Source:
    from tlcompare.data import DATASETS

    text = str(text).strip()
    if text in DATASETS:
        return Source("builtin", text)
    kind, sep, target = text.partition(":")
    if sep and kind.lower() in KINDS and target.strip():
        if len(target) > MAX_PATH:  # the file system refuses it anyway; say so before touching it
            raise UserError(f"the path in '{printable(text, 60)}' is {len(target.strip()):,} characters; a path is at most {MAX_PATH:,}")
        return Source(kind.lower(), target.strip())
    raise UserError(_unknown(text))


def canonical_source(text: str) -> str:
    """``text`` with a user path made absolute, so a worker started elsewhere finds the same files."""
    try:
        src = parse_source(text)
    except UserError:
        return str(text).strip()  # validation reports it
    if src.kind in ("imagefolder", "zip"):
        from tlcompare.content_keys import resolve_path

        try:
            return f"{src.kind}:{resolve_path(src.target)}"
        except UserError:
            return str(text).strip()  # validation reports it
    if src.kind == "torchvision":
        return f"torchvision:{src.target.lower()}"
    return src.target


def source_info(text: str) -> DatasetInfo:
    """What the pickers show for a source before it is decoded (counts are only known after)."""
    src = parse_source(text)
    if src.kind == "torchvision":
        from tlcompare.data.torchvision_sets import torchvision_set

        tv = torchvision_set(src.target.lower())
        title, licence = f"{tv.title} (torchvision)", tv.licence
        description = "Downloaded by torchvision into the tlcompare data folder the first time."
    else:
        from tlcompare.data.imagefolder import OWN_IMAGES_LICENCE

        title, licence = src.path.name or str(src.path), OWN_IMAGES_LICENCE
        description = f"Your images: one sub-folder per class, from {'the archive' if src.kind == 'zip' else 'the folder'} {src.path}."
    return DatasetInfo(
        name=text, title=title, num_classes=0, num_images="?", image_size="any", licence=licence,
        description=description, loader=lambda root=None: load_source(text, root),
        unavailable_reason=lambda root=None: check_source(text) or _not_downloaded(src, root),
    )


def _not_downloaded(src: Source, root) -> str | None:
    if src.kind != "torchvision":
        return None
    from tlcompare.data.torchvision_sets import torchvision_missing

    return torchvision_missing(src.target.lower(), root)


def check_source(text: str) -> str | None:
    """None when the source can be loaded as far as a cheap check tells, else the problem in one line."""
    try:
        src = parse_source(text)
    except UserError as e:
        return str(e)
    if src.kind == "imagefolder":
        from tlcompare.data.imagefolder import check_folder

        return check_folder(src.path)
    if src.kind == "zip":
        return _check_zip(src)
    if src.kind == "torchvision":
        from tlcompare.data.torchvision_sets import TORCHVISION_SETS

        if src.target.lower() not in TORCHVISION_SETS:
            return f"unknown torchvision dataset '{printable(src.target)}'; choose one of {', '.join(TORCHVISION_SETS)}"
    return None


def load_source(text: str, data_root: str | Path | None = None, image_size: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> ImageDataset:
    """Load any non-built-in source (built-ins go through ``tlcompare.data.load_dataset``)."""
    from tlcompare.data.imagefolder import DEFAULT_CACHE_SIZE, load_imagefolder

    src = parse_source(text)
    # One cache serves every training size up to the default; a larger size gets its own, so
    # training at 384 px never sees images upscaled from 256.
    cache_size = max(DEFAULT_CACHE_SIZE, image_size or 0)
    progress = progress or TerminalProgress(f"decoding {printable(src.path.name if src.kind != 'torchvision' else src.target)}")
    if src.kind == "imagefolder":
        ds = load_imagefolder(src.path, cache_size=cache_size, progress=progress)
    elif src.kind == "zip":
        from tlcompare.data.safe_zip import extract_zip

        folder = extract_zip(src.path)
        ds = load_imagefolder(folder, name=src.path.stem, cache_size=cache_size, progress=progress)
    elif src.kind == "torchvision":
        from tlcompare.data.torchvision_sets import load_torchvision

        ds = load_torchvision(src.target.lower(), data_root, cache_size=cache_size, progress=progress)
    else:
        raise UserError(_unknown(text))
    return ds


def skipped_note(ds: ImageDataset, source: str) -> str | None:
    """One line for the training log when files of the source were skipped, else None."""
    unreadable = ds.extra.get("unreadable") or []
    if not unreadable:
        return None
    return (f"tlcompare: {printable(ds.name)}: {len(unreadable)} unreadable files skipped "
            f"(see `tlcompare inspect {printable(source)}`)")


class TerminalProgress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.tty or total < 50:
            return
        pct = 100 * done // max(total, 1)
        if pct == self.last and done != total:
            return
        self.last = pct
        bar = "#" * (pct // 4)
        end = "\n" if done == total else ""
        self.stream.write(f"\r\033[K{self.label} [{bar:<25}] {done}/{total}{end}")
        self.stream.flush()


def _check_zip(src: Source) -> str | None:
    from tlcompare.data.safe_zip import check_archive, require_regular_file

    try:
        if src.path.is_dir():
            raise IsADirectoryError
        require_regular_file(src.path, f"'{printable(src.target)}'")
        with src.path.open("rb") as f:
            if not zipfile.is_zipfile(f):
                return f"'{printable(src.target)}' is not a zip archive"
            check_archive(f, label=f"'{printable(src.path.name)}'")
    except FileNotFoundError:
        return f"archive '{printable(src.target)}' does not exist"
    except IsADirectoryError:
        return f"'{printable(src.target)}' is a folder: use imagefolder:{printable(src.target)}"
    except OSError as e:
        return f"cannot read archive '{printable(src.target)}': {e.strerror or e}"
    except UserError as e:
        return str(e)
    return None


def _unknown(text: str) -> str:
    from tlcompare.data import DATASETS

    hint = ""
    path = Path(text).expanduser()
    if text and path.is_dir():
        hint = f" (did you mean imagefolder:{printable(text)}?)"
    elif text and path.is_file() and path.suffix.lower() == ".zip":
        hint = f" (did you mean zip:{printable(text)}?)"
    return f"unknown '{printable(text)}'{hint}; choose one of {', '.join(DATASETS)}, or {FORMS}"
