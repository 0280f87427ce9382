"""A folder of class sub-folders (``root/cat/1.jpg``, ``root/dog/2.png``) as an ImageDataset.

Real folders carry what real data carries: ``.DS_Store``, ``__MACOSX``, a ``notes.txt``, a file
that is not what its name says, an empty class. Hidden and system files are ignored; files that
are not images are skipped; images that do not decode are skipped with the reason; all of it is
kept in the dataset's ``extra`` so the dataset check can list it. Decoding runs on a thread pool
(PIL releases the GIL while it decodes and resizes) and is cached, keyed by a fingerprint of the
folder's names and every image's bytes, so a changed folder is decoded again.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from tlcompare.data import access
from tlcompare.data.base import ImageDataset
from tlcompare.data.cache import cached_dataset
from tlcompare.data.decode import (
    DECODER_VERSION,
    FORMAT_NAMES,
    IMAGE_EXTENSIONS,
    Decoded,
    decode_image,
    resize_square,
)
from tlcompare.data.file_hashes import file_digests
from tlcompare.errors import UserError
from tlcompare.text.escape import printable

# Stored resolution: training at any image_size up to this reuses one cache; larger sizes get
# their own. 256 is what the ImageNet evaluation transform crops 224 from.
DEFAULT_CACHE_SIZE = 256
MAX_DEPTH = 32  # folders below a class folder that are read (the same limit as inside a zip)
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "__macosx", "$recycle.bin", "@eadir"})
OWN_IMAGES_LICENCE = "your own images: whatever licence applies to them"
Progress = Callable[[int, int], None]


@dataclass
class FolderScan:
    root: Path  # the folder whose sub-folders are the classes
    class_names: list[str]
    files: list[tuple[str, int]]  # (path relative to root, class index) of every candidate image
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why) of non-image files
    ignored: list[str] = field(default_factory=list)  # hidden and system files and folders
    unwrapped: str | None = None  # the wrapper folder descended into, if any
    fingerprint: str = ""


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def scan_folder(root: str | Path) -> FolderScan:
    """List the class folders and candidate images under ``root`` without decoding anything; the
    fingerprint covers every image's bytes (hashed once, then remembered: ``file_hashes.py``)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"image folder '{printable(str(root))}' does not exist or is not a folder")
    root, unwrapped, ignored = _unwrap(root)
    scan = FolderScan(root=root, class_names=[], files=[], ignored=ignored, unwrapped=unwrapped)
    limit, walked = access.max_files(), 0
    stamp = hashlib.sha256()
    class_dirs = []
    for entry in _sorted_entries(root):
        if is_hidden(entry.name):
            scan.ignored.append(entry.name + ("/" if entry.is_dir() else ""))
        elif entry.is_dir(follow_symlinks=False):
            class_dirs.append(entry.name)
        elif entry.is_symlink() and entry.is_dir():
            scan.skipped.append((entry.name + "/", "a symbolic link to a folder (not followed)"))
        else:
            scan.skipped.append((entry.name, "not inside a class folder (put each image in its class's sub-folder)"))
    # Ignored and skipped names count too: the dataset check lists them from the cached dataset.
    for name in scan.ignored + [rel for rel, _ in scan.skipped]:
        stamp.update(f"N\0{name}\0".encode("utf-8", "surrogateescape"))
    for label, folder in enumerate(class_dirs):
        scan.class_names.append(class_name(folder))
        stamp.update(f"D\0{folder}\0".encode("utf-8", "surrogateescape"))
        for rel, kind, why in _walk_class(root, folder):
            walked += 1
            if walked > limit:  # stop before the list fills the memory; name nothing found in it
                raise access.too_many_files(printable(str(root)))
            if kind == "ignored":
                scan.ignored.append(rel)
                stamp.update(f"N\0{rel}\0".encode("utf-8", "surrogateescape"))
            elif kind == "skipped":  # listed by name and reason; what it holds is never read
                scan.skipped.append((rel, why))
                stamp.update(f"S\0{rel}\0".encode("utf-8", "surrogateescape"))
            else:
                scan.files.append((rel, label))
    _require_distinct(scan.class_names, class_dirs, root)
    # Keyed by the bytes of every image (file_hashes.py): equal names, sizes and times can hold other pixels.
    for (rel, label), digest in zip(scan.files, file_digests(root, [rel for rel, _ in scan.files]), strict=True):
        stamp.update(f"F\0{rel}\0{label}\0{digest}\0".encode("utf-8", "surrogateescape"))
    scan.fingerprint = stamp.hexdigest()[:24]
    return scan


def class_name(folder: str) -> str:
    """A class folder's name as text: NFC (a Mac writes 'café' decomposed), and bytes that are not
    UTF-8 written as escapes ('caf\\xe9'), so the name can be stored, hashed and shown; the files are
    still read through the folder's real name."""
    return unicodedata.normalize("NFC", os.fsencode(folder).decode("utf-8", "backslashreplace"))


def _require_distinct(names: list[str], folders: list[str], root: Path) -> None:
    """Two folders whose names read the same ('café' composed and decomposed) would be one class
    shown twice, or two classes nobody can tell apart: refused, with both spellings."""
    seen: dict[str, str] = {}
    for name, folder in zip(names, folders, strict=True):
        if name in seen:
            spelled = ", ".join(ascii(f)[1:-1] for f in (seen[name], folder))
            raise UserError(f"'{printable(str(root))}' has two class folders that both read '{printable(name)}' "
                            f"(spelled {spelled}: Unicode composed and decomposed, or bytes that are not UTF-8); "
                            "merge them into one folder or rename one")
        seen[name] = folder


def check_folder(root: str | Path) -> str | None:
    """The folder-level problem (missing, no class folders, one class) in one line, without reading files."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return f"image folder '{printable(str(root))}' does not exist or is not a folder"
    try:
        inner, _, _ = _unwrap(root)
        entries = [e for e in _sorted_entries(inner) if not is_hidden(e.name)]
    except UserError as e:
        return str(e)
    classes = [class_name(e.name) for e in entries if e.is_dir(follow_symlinks=False)]
    loose = [(e.name, "not inside a class folder") for e in entries if not e.is_dir()]
    try:
        _require_distinct(classes, [e.name for e in entries if e.is_dir(follow_symlinks=False)], inner)
        _require_classes(FolderScan(root=inner, class_names=classes, files=[], skipped=loose), len(classes))
    except UserError as e:
        return str(e)
    return None


def load_imagefolder(root: str | Path, name: str | None = None, cache_size: int = DEFAULT_CACHE_SIZE,
                     progress: Progress | None = None, workers: int | None = None) -> ImageDataset:
    """Decode (or load from the cache) the images under ``root``; see the module docstring."""
    scan = scan_folder(root)
    _require_classes(scan, len(scan.class_names))
    name = name or Path(root).expanduser().name or "images"
    key = {"name": "imagefolder", "root": str(scan.root.resolve()), "fingerprint": scan.fingerprint,
           "cache_size": cache_size, "decoder": DECODER_VERSION, "title": name}
    return cached_dataset(key, lambda: build_dataset(scan, name, cache_size, progress, workers))


def build_dataset(scan: FolderScan, name: str, cache_size: int, progress: Progress | None = None,
                  workers: int | None = None) -> ImageDataset:
    decoded = decode_all([scan.root / rel for rel, _ in scan.files], cache_size, progress, workers,
                         label=printable(str(scan.root)))
    unreadable = [(rel, d.error) for (rel, _), d in zip(scan.files, decoded, strict=True) if d.error]
    good = [(rel, label, d) for (rel, label), d in zip(scan.files, decoded, strict=True) if not d.error]
    present = sorted({label for _, label, _ in good})
    empty = [scan.class_names[c] for c in range(len(scan.class_names)) if c not in present]
    _require_classes(scan, len(present), empty, len(unreadable))
    # Classes without a single readable image are left out (and reported) rather than failing
    # the whole dataset: a stray empty folder should not stop the experiment.
    relabel = {old: new for new, old in enumerate(present)}
    images = stack_images([d.pixels for _, _, d in good])
    return ImageDataset(
        name=name,
        images=images,
        labels=torch.tensor([relabel[label] for _, label, _ in good], dtype=torch.int64),
        class_names=[scan.class_names[c] for c in present],
        licence=OWN_IMAGES_LICENCE,
        description=f"{len(good):,} images in {len(present)} classes from the folder {scan.root}",
        extra={
            "source_kind": "imagefolder",
            "root": str(scan.root),
            "unwrapped": scan.unwrapped,
            "files": [rel for rel, _, _ in good],
            "orig_sizes": [[d.width, d.height] for _, _, d in good],
            "sha256": [d.sha256 for _, _, d in good],
            "unreadable": [list(u) for u in unreadable],
            "skipped": [list(s) for s in scan.skipped],
            "ignored": scan.ignored,
            "empty_classes": empty,
            "stored_size": int(images.shape[-1]),
            "fit": "centre crop",
        },
    )


def decode_all(paths: list[Path], size: int, progress: Progress | None = None, workers: int | None = None,
               label: str = "the folder") -> list[Decoded]:
    """Decode ``paths`` in parallel, in order; ``progress(done, total)`` after each file.

    Stops with a UserError once the decoded pixels pass ``access.max_decoded_bytes()``: the
    stacked tensor and its cache would be at least that large.
    """
    results: list[Decoded | None] = [None] * len(paths)
    workers = workers or min(8, os.cpu_count() or 1)
    limit, held = access.max_decoded_bytes(), 0
    if progress:
        progress(0, len(paths))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(decode_image, p, size): i for i, p in enumerate(paths)}
        for done, fut in enumerate(as_completed(futures), 1):
            decoded = results[futures[fut]] = fut.result()
            held += 0 if decoded.pixels is None else decoded.pixels.nbytes
            if held > limit:
                pool.shutdown(wait=True, cancel_futures=True)
                raise access.too_many_bytes(label, done, len(paths))
            if progress:
                progress(done, len(paths))
    return results  # type: ignore[return-value]


# -- helpers -----------------------------------------------------------------------------------------
def _unwrap(root: Path) -> tuple[Path, str | None, list[str]]:
    """Descend through lone wrapper folders: most zips hold ``photos/cat/...``, not ``cat/...``.

    Returns the folder of class folders, the wrapper path, and the hidden entries passed on the way
    (``__MACOSX/`` beside the wrapper), relative to ``root``.
    """
    path, wrapped, ignored = root, [], []
    for _ in range(8):
        entries = _sorted_entries(path)
        visible = [e for e in entries if not is_hidden(e.name)]
        if len(visible) != 1 or not visible[0].is_dir(follow_symlinks=False):
            break
        inner = Path(visible[0].path)
        # A lone folder of images is a single class, not a wrapper: only descend into folders of folders.
        if not any(e.is_dir(follow_symlinks=False) and not is_hidden(e.name) for e in _sorted_entries(inner)):
            break
        prefix = "".join(f"{w}/" for w in wrapped)
        ignored += [prefix + e.name + ("/" if e.is_dir() else "") for e in entries if is_hidden(e.name)]
        path = inner
        wrapped.append(visible[0].name)
    return path, "/".join(wrapped) or None, ignored


def _walk_class(root: Path, folder: str):
    """(relative path, 'image' | 'skipped' | 'ignored', reason) for everything in one class folder."""
    for dirpath, dirnames, filenames in os.walk(root / folder):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for d in sorted(dirnames):
            if is_hidden(d):
                yield f"{rel_dir}/{d}/", "ignored", ""
            elif os.path.islink(os.path.join(dirpath, d)):
                yield f"{rel_dir}/{d}/", "skipped", "a symbolic link to a folder (not followed)"
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d) and not os.path.islink(os.path.join(dirpath, d)))
        if rel_dir.count("/") >= MAX_DEPTH - 1:  # os.walk recurses: 1,500 levels would overflow Python's stack
            for d in dirnames:
                yield f"{rel_dir}/{d}/", "skipped", f"nested more than {MAX_DEPTH} folders deep (not read)"
            dirnames[:] = []
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}"
            if is_hidden(f):
                yield rel, "ignored", ""
            elif Path(f).suffix.lower() not in IMAGE_EXTENSIONS:
                yield rel, "skipped", f"not an image file tlcompare reads ({FORMAT_NAMES})"
            else:
                yield rel, "image", ""


def _sorted_entries(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: unicodedata.normalize("NFC", e.name))
    except OSError as e:
        raise UserError(f"cannot read the folder '{printable(str(path))}': {e.strerror or e}") from None


def _require_classes(scan: FolderScan, n: int, empty: list[str] = (), n_unreadable: int = 0) -> None:
    where = printable(str(scan.root))
    if n >= 2:
        return
    if not scan.class_names:
        has_loose = any("class folder" in why for _, why in scan.skipped)
        hint = " (the images are loose in it)" if has_loose else ""
        raise UserError(f"'{where}' has no class sub-folders{hint}: put each class's images in its own "
                        f"sub-folder, e.g. {where}/cats/1.jpg and {where}/dogs/2.jpg")
    if len(scan.class_names) == 1:
        raise UserError(f"'{where}' has only one class folder ('{printable(scan.class_names[0])}'): comparing "
                        "classifiers needs at least two classes, one sub-folder each")
    left = f"only {n} of the {len(scan.class_names)} class folders" if n else f"none of the {len(scan.class_names)} class folders"
    why = f" ({n_unreadable} unreadable files; see `tlcompare inspect`)" if n_unreadable else ""
    names = ", ".join(f"'{printable(c)}'" for c in list(empty)[:5])
    raise UserError(f"'{where}': {left} hold readable {FORMAT_NAMES} images{why}; empty: {names}; "
                    "at least two classes need images")


def stack_images(pixels: list[np.ndarray]) -> torch.Tensor:
    """One N x C x S x S uint8 tensor: 1 channel when every image is gray (a third of the memory)."""
    size = max(p.shape[0] for p in pixels)
    gray = all(p.ndim == 2 for p in pixels)
    channels = 1 if gray else 3
    out = torch.empty((len(pixels), channels, size, size), dtype=torch.uint8)
    for i, p in enumerate(pixels):
        if p.shape[0] != size:
            p = resize_square(p, size)
        if p.ndim == 2:
            p = p[:, :, None]
        out[i] = torch.from_numpy(np.ascontiguousarray(p.transpose(2, 0, 1)))  # broadcasts gray to RGB
    return out
