"""A hash of every file's bytes in an image folder, remembered so an unchanged folder costs a stat walk.

An image folder is keyed by what its files hold, not by their names, sizes and modification times:
two files that swap contents keep their sizes, and a copy tool (or ``touch -d``) restores the times,
so a stamp of those would reuse runs trained on other labels and decoded pixels of other images.

Hashing every byte on every look would cost a large folder minutes, so each file's digest is
remembered in a small JSON file per folder under ``TLCOMPARE_HOME/cache/file_hashes/``, keyed by
the file's name, size, modification time, inode and status-change time. The last is what makes
the memo safe: writing a file's bytes or renaming it sets its ctime to now, and no user call can
set it back (``touch`` and ``os.utime`` change it too), so a file whose memo key still matches
holds the bytes it was hashed with. A cache that cannot be read or written is only slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tlcompare.home import cache_dir

log = logging.getLogger("tlcompare.data")
FORMAT = 1
MISSING = "missing"  # a file that vanished between the walk and the hash: any later change is new content


def _digest(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
    except OSError:
        return MISSING


def _stamp(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def memo_path(root: Path) -> Path:
    name = hashlib.sha256(os.fsencode(str(root.resolve()))).hexdigest()[:20]
    return cache_dir() / "file_hashes" / f"{name}.json"


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data["files"] if data.get("format") == FORMAT and isinstance(data.get("files"), dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # absent or damaged: hash again


def _save(path: Path, files: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": FORMAT, "files": files}, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        log.warning("tlcompare: could not remember the folder's file hashes in %s (%s)", path, e.strerror or e)


def file_digests(root: Path, rels: list[str], workers: int | None = None) -> list[str]:
    """blake2b (32 hex digits) of each ``root / rel``'s bytes, in order; ``MISSING`` for a file
    that cannot be read. Only files whose name, size, times or inode changed are read."""
    memo_file = memo_path(root)
    known = _load(memo_file)
    stamps = [_stamp(root / rel) for rel in rels]
    out: list[str | None] = []
    todo: list[int] = []
    for i, (rel, stamp) in enumerate(zip(rels, stamps, strict=True)):
        hit = known.get(rel)
        if stamp is None:
            out.append(MISSING)
        elif isinstance(hit, list) and len(hit) == 2 and hit[0] == stamp:
            out.append(hit[1])
        else:
            out.append(None)
            todo.append(i)
    if todo:
        # Reading is most of the cost; hashlib releases the GIL over large buffers.
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
            for i, digest in zip(todo, pool.map(lambda i: _digest(root / rels[i]), todo), strict=True):
                # A file changed while it was read gets no memo: hash it again next time.
                if _stamp(root / rels[i]) != stamps[i]:
                    digest = MISSING if digest == MISSING else digest + "?"
                out[i] = digest
        _save(memo_file, {rel: [stamp, d] for rel, stamp, d in zip(rels, stamps, out, strict=True)
                          if stamp is not None and d != MISSING and not d.endswith("?")})
    return out  # type: ignore[return-value]
