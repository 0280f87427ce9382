"""Extract an untrusted zip of images into the tlcompare home, or refuse it before writing anything.

An uploaded zip is input from anyone who can reach the dashboard. The whole central directory is
checked first (names, entry types, sizes, compression ratios, overlapping entries), so a refused
archive writes nothing. The data is then streamed with the sizes enforced again, because the sizes
in the headers are only the archive's own claims. Files are written here, never by
``ZipFile.extract``, into a fresh hidden folder that is renamed into place only when complete, so
an interrupted extraction never looks like a finished one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tlcompare.errors import UnsafeArchive, UserError
from tlcompare.home import subdir
from tlcompare.text.escape import printable

MiB = 2**20
GiB = 2**30
CHUNK = MiB
# A local file header is at least this long, so entries closer together than this overlap.
LOCAL_HEADER_MIN = 30
SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
WINDOWS_REPARSE_POINT = 0x400  # how a Windows zip marks a symbolic link or junction


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may ask of this machine.

    The defaults fit "a few thousand labelled scans" with room to spare: JPEG and PNG barely
    compress inside a zip (ratio near 1), and even blank uncompressed BMP or TIFF pages stay well
    under 200:1, while a deflate bomb reaches about 1000:1 per entry.
    """

    max_archive_bytes: int = 2 * GiB
    max_total_bytes: int = 8 * GiB  # uncompressed, all entries together
    max_files: int = 100_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = MiB  # below this, an entry's (or the whole archive's) ratio cannot hurt
    max_depth: int = 32


DEFAULT_LIMITS = ZipLimits()


def uploads_dir() -> Path:
    """Where archives are extracted: one folder per archive content hash."""
    return subdir("uploads")


def extract_zip(source: str | Path | bytes | BinaryIO, dest_root: str | Path | None = None,
                limits: ZipLimits = DEFAULT_LIMITS, label: str | None = None, name: str | None = None) -> Path:
    """Check ``source`` and extract it into ``dest_root/<content hash>/<name>/``; return that folder.

    ``source`` is a path, the archive's bytes, or a seekable binary file (a Streamlit upload).
    ``name`` (default: the archive's file name) names the folder, and so the dataset. An archive
    extracted before is not extracted again. Raises ``UnsafeArchive`` (nothing written) or
    ``UserError`` (not a zip, damaged, disk full; anything partly written is removed).
    """
    path_given = isinstance(source, str | Path)
    label = label or (f"'{printable(Path(source).name)}'" if path_given else "the uploaded archive")
    folder = folder_name(name if name is not None else Path(source).stem if path_given else "")
    root = Path(dest_root) if dest_root is not None else uploads_dir()
    with _open(source, label) as fileobj:
        entries = check_archive(fileobj, limits, label)
        final = root / _content_hash(fileobj) / folder
        if final.is_dir():
            return final
        root.mkdir(parents=True, exist_ok=True)
        _check_free_space(root, sum(e.file_size for e in entries), label)
        tmp = Path(tempfile.mkdtemp(prefix=".extracting-", dir=root))
        try:
            _extract(fileobj, entries, tmp / folder, limits, label)
            final.parent.mkdir(exist_ok=True)
            try:
                (tmp / folder).rename(final)
            except OSError:
                if not final.is_dir():  # not the case where a concurrent upload of the same file won
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def folder_name(text: str) -> str:
    """A safe one-level folder name from an uploaded file's name (which the uploader chose)."""
    cleaned = re.sub(r"[^\w\- .,()+]+", "_", printable(text, 64)).strip(" ._")
    return cleaned or "images"


def check_archive(fileobj: BinaryIO, limits: ZipLimits = DEFAULT_LIMITS, label: str = "the archive") -> list[zipfile.ZipInfo]:
    """Every entry of the archive after checking all of them; raises on the first problem."""
    size = fileobj.seek(0, io.SEEK_END)
    if size > limits.max_archive_bytes:
        raise UnsafeArchive(f"{label} is {_human(size)}, over the limit of {_human(limits.max_archive_bytes)} per archive")
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as zf:
            entries = zf.infolist()
    except zipfile.BadZipFile as e:
        raise UserError(f"{label} is not a zip archive or is damaged ({e})") from None
    except (OSError, EOFError, ValueError, NotImplementedError) as e:
        raise UserError(f"{label} could not be read as a zip archive ({type(e).__name__}: {e})") from None

    seen: set[tuple[str, ...]] = set()
    n_files = 0
    total = packed = 0
    for info in entries:
        name = printable(info.orig_filename)
        problem = _name_problem(info.orig_filename, limits)
        if problem:
            raise UnsafeArchive(f"{label} refused: entry '{name}' {problem}; nothing was extracted")
        problem = _type_problem(info)
        if problem:
            raise UnsafeArchive(f"{label} refused: entry '{name}' is {problem}; nothing was extracted")
        if info.flag_bits & 0x1:
            raise UserError(f"{label} has password-protected entries ('{name}'): zip the images again without a password")
        if info.compress_type not in SUPPORTED_METHODS:
            raise UserError(f"{label}: entry '{name}' uses a compression method ({info.compress_type}) that cannot be read; "
                            "zip the images again with standard compression")
        parts = entry_parts(info.filename)
        if parts in seen:
            raise UnsafeArchive(f"{label} refused: entry '{name}' appears twice; nothing was extracted")
        seen.add(parts)
        if info.is_dir():
            continue
        n_files += 1
        total += info.file_size
        packed += info.compress_size
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UnsafeArchive(
                f"{label} refused: entry '{name}' expands {ratio:.0f}-fold ({_human(info.compress_size)} to "
                f"{_human(info.file_size)}), over the limit of {limits.max_ratio:.0f}:1 (a zip bomb?); nothing was extracted")
    if n_files > limits.max_files:
        raise UnsafeArchive(f"{label} refused: {n_files:,} files, over the limit of {limits.max_files:,}; nothing was extracted")
    # The ratio of the whole archive too: many entries just under the per-entry floor (120 x 1 MiB
    # of zeros) pass one by one and still turn a small upload into a full disk.
    if total > limits.ratio_floor_bytes and total > limits.max_ratio * max(packed, 1):
        raise UnsafeArchive(
            f"{label} refused: its {n_files:,} files expand {total / max(packed, 1):.0f}-fold together ({_human(packed)} to "
            f"{_human(total)}), over the limit of {limits.max_ratio:.0f}:1 (a zip bomb?); nothing was extracted")
    if total > limits.max_total_bytes:
        raise UnsafeArchive(f"{label} refused: it expands to {_human(total)}, over the limit of "
                            f"{_human(limits.max_total_bytes)}; nothing was extracted (extract it yourself and use imagefolder:PATH)")
    _check_overlaps(entries, size, label)
    return entries


def entry_parts(name: str) -> tuple[str, ...]:
    """The path components of an entry name, with Windows separators and '.' parts normalised."""
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


# -- checks on the central directory ---------------------------------------------------------------
def _name_problem(raw: str, limits: ZipLimits) -> str | None:
    if "\x00" in raw:
        return "has a NUL character in its name"
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        return "is an absolute path"
    parts = entry_parts(name)
    if ".." in parts:
        return "points outside the archive's folder with '..'"
    if not parts:
        return "has an empty name"
    if len(parts) > limits.max_depth:
        return f"is nested more than {limits.max_depth} folders deep"
    return None


def _type_problem(info: zipfile.ZipInfo) -> str | None:
    if info.external_attr & WINDOWS_REPARSE_POINT:
        return "a symbolic link (links are never extracted)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # 3 = Unix: the high 16 bits are st_mode
        if stat.S_ISLNK(mode):
            return "a symbolic link (links are never extracted)"
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            return "a device, pipe or socket, not a file"
    return None


def _check_overlaps(entries: list[zipfile.ZipInfo], archive_size: int, label: str) -> None:
    # Overlapping entries let many names share one compressed stream: the classic way a small
    # zip expands to petabytes while every single entry looks innocent.
    previous_end = 0
    previous = None
    for info in sorted((e for e in entries if not e.is_dir()), key=lambda e: e.header_offset):
        if info.header_offset < previous_end:
            raise UnsafeArchive(f"{label} refused: entries '{printable(previous.orig_filename)}' and "
                                f"'{printable(info.orig_filename)}' overlap (a zip bomb technique); nothing was extracted")
        previous_end = info.header_offset + LOCAL_HEADER_MIN + info.compress_size
        previous = info
        if previous_end > archive_size:
            raise UserError(f"{label} is damaged: entry '{printable(info.orig_filename)}' runs past the end of the file")


def _check_free_space(root: Path, needed: int, label: str) -> None:
    margin = 64 * MiB
    free = shutil.disk_usage(root).free
    if free < needed + margin:
        raise UserError(f"not enough disk space to extract {label}: it needs {_human(needed)}, "
                        f"{_human(free)} is free in {root}; free some space or set TLCOMPARE_HOME to a larger disk")


# -- extraction ------------------------------------------------------------------------------------
def _extract(fileobj: BinaryIO, entries: list[zipfile.ZipInfo], dest: Path, limits: ZipLimits, label: str) -> None:
    dest.mkdir()
    base = dest.resolve()
    written = 0
    fileobj.seek(0)
    with zipfile.ZipFile(fileobj) as zf:
        for info in entries:
            name = printable(info.orig_filename)
            target = base.joinpath(*entry_parts(info.filename))
            # Belt and braces after the name checks: nothing may resolve outside the fresh folder.
            if not target.resolve().is_relative_to(base):
                raise UnsafeArchive(f"{label} refused: entry '{name}' resolves outside the target folder")
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                size = 0
                with zf.open(info) as src, _open_output(target) as out:
                    while chunk := src.read(CHUNK):
                        size += len(chunk)
                        written += len(chunk)
                        if size > info.file_size or written > limits.max_total_bytes:
                            raise UnsafeArchive(f"{label} refused: entry '{name}' holds more data than its header "
                                                "declares (a zip bomb?); what was extracted has been removed")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError) as e:
                raise UserError(f"{label} is damaged: entry '{name}' could not be extracted ({e}); "
                                "what was extracted has been removed") from None
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise UserError(f"the disk filled up while extracting {label}; what was extracted has been "
                                    "removed: free some space or set TLCOMPARE_HOME to a larger disk") from None
                raise UserError(f"could not extract entry '{name}' of {label}: {e.strerror or e}; "
                                "what was extracted has been removed") from None


def _open_output(path: Path):
    # "x": a name written twice (which the checks rule out) fails instead of overwriting.
    return open(path, "xb")


@contextlib.contextmanager
def _open(source, label: str) -> Iterator[BinaryIO]:
    """The archive as a seekable binary file; opened (and closed) here when given as a path or bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        with io.BytesIO(source) as f:
            yield f
        return
    if not isinstance(source, str | Path):
        yield source
        return
    require_regular_file(Path(source).expanduser(), f"archive '{printable(str(source))}'")
    try:
        f = open(Path(source).expanduser(), "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise UserError(f"archive '{printable(str(source))}' does not exist") from None
    except OSError as e:
        raise UserError(f"cannot read archive '{printable(str(source))}': {e.strerror or e}") from None
    with f:
        yield f


def require_regular_file(path: Path, what: str) -> None:
    """Refuse what is not a regular file before opening it: reading /dev/zero never ends and
    opening a FIFO waits forever for a writer. A missing path is left to the caller's open."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_ISDIR(mode):
        raise UserError(f"{what} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} is not a regular file (a device, pipe or socket): give the path of a file")


def _content_hash(fileobj: BinaryIO) -> str:
    fileobj.seek(0)
    h = hashlib.sha256()
    while chunk := fileobj.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()[:24]


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
