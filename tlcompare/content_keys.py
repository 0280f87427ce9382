"""Content keys for the files a spec names: a checkpoint, an image folder, a zip of images.

A finished run is reused for every later run with the same configuration hash. If that hash held
only a path, the same relative name in another folder, an edited folder or a replaced checkpoint
would silently reuse runs trained on other data or other weights. So a spec stores, beside each
path, a key of what the path held when the spec was built, and the hash uses the key.

- checkpoint and zip: sha256 of the file's bytes (remembered per path, size, mtime and inode, so a
  dashboard rerun does not hash a large file again);
- image folder: sha256 of every class folder's name and every image's relative path and bytes (the
  same fingerprint the decoded-image cache uses; each file's hash is remembered by its name, size,
  times and inode, see data/file_hashes.py, so an unchanged folder costs a stat walk).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tlcompare.errors import UserError
from tlcompare.text.escape import printable

_file_memo: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a regular file's bytes, 24 hex digits."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise UserError(f"cannot read '{printable(str(path))}': {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):  # /dev/zero never ends, a FIFO blocks the open
        raise UserError(f"'{printable(str(path))}' is not a regular file (a folder, device, pipe or socket): give the path of a file")
    memo_key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    known = _file_memo.get(memo_key)
    if known is not None:
        return known
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise UserError(f"cannot read '{printable(str(path))}': {e.strerror or e}") from None
    digest = h.hexdigest()[:24]
    _file_memo[memo_key] = digest
    return digest


def source_key(source: str) -> str | None:
    """The content key of a dataset source, or None for built-in and torchvision datasets (their
    content is fixed by name and package; the dataset fingerprint recorded per run covers them)."""
    from tlcompare.data.sources import parse_source

    src = parse_source(source)
    if src.kind == "zip":
        return "sha256:" + file_sha256(src.path)
    if src.kind == "imagefolder":
        from tlcompare.data.imagefolder import scan_folder

        return "content:" + scan_folder(src.path).fingerprint
    return None


def require_unchanged(what: str, stored: str | None, now: str | None) -> None:
    """Refuse to train when a file changed after its experiment was queued: the run's result would
    be stored under a key that names other content."""
    if stored is not None and stored != now:
        raise UserError(f"{what} changed after this experiment was queued (content key {stored}, now {now}); "
                        "submit the experiment again so its runs are keyed by the new content")


MAX_PATH = 4096  # Linux's PATH_MAX: resolving a longer path walks every part (minutes for 1 MB) to fail


def resolve_path(text: str) -> str:
    """An absolute path with ~ expanded and symlinks resolved, as a spec stores it."""
    text = str(text).strip()
    if len(text) > MAX_PATH:
        raise UserError(f"a path of {len(text):,} characters ('{printable(text, 60)}'); a path is at most {MAX_PATH:,}")
    try:
        return str(Path(os.path.expanduser(text)).resolve())
    except (OSError, RuntimeError) as e:  # a loop of links, a name too long for the file system
        raise UserError(f"cannot resolve the path '{printable(text, 120)}': {getattr(e, 'strerror', None) or e}") from None


def check_unchanged(spec, arm: str) -> None:
    """Before a run trains: its dataset folder or archive and its checkpoint still hold what the
    spec was keyed on."""
    if spec.source_key:
        require_unchanged(f"the dataset '{printable(spec.dataset)}'", spec.source_key, source_key(spec.dataset))
    if arm == "pretrained" and spec.weights and spec.weights_key:
        require_unchanged(f"the checkpoint '{printable(spec.weights)}'", spec.weights_key,
                          "sha256:" + file_sha256(spec.weights))
