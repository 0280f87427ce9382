"""Which folders the dashboard may read, and how much of any folder tlcompare reads.

The dashboard's "folder on this machine" box is a path typed by whoever can reach the page, read by
the server's user: without a boundary it lists and decodes the whole disk and shows the machine's
images in the mistakes gallery. The dashboard therefore reads only inside the data roots
(``TLCOMPARE_DATA_ROOTS``, folders separated by ``os.pathsep``; by default the user's home), checked
after symlinks are resolved. Uploads extract under ``TLCOMPARE_HOME/uploads``, which is always a
root. The command line does not check roots: its user already has a shell.

The limits on files walked and bytes decoded hold everywhere: a folder pointed at by mistake (``/``)
stops with one line instead of filling the memory.
"""

from __future__ import annotations

import os
from pathlib import Path

from tlcompare.errors import UserError
from tlcompare.home import subdir
from tlcompare.text.escape import printable

ROOTS_ENV = "TLCOMPARE_DATA_ROOTS"
MAX_FILES_ENV = "TLCOMPARE_MAX_FILES"
MAX_DECODED_ENV = "TLCOMPARE_MAX_DECODED_GB"
DEFAULT_MAX_FILES = 200_000
DEFAULT_MAX_DECODED_GB = 4.0  # about 21,000 colour images at the stored 256 px


def uploads_root() -> Path:
    return subdir("uploads")


def data_roots() -> list[Path]:
    """The folders the dashboard may read, resolved; uploads always among them."""
    configured = os.environ.get(ROOTS_ENV)
    if configured is not None:
        entries = [p for p in configured.split(os.pathsep) if p.strip()]
    else:  # a service account whose home is / would otherwise open the whole disk
        entries = [str(Path.home())] if Path.home().resolve() != Path("/") else []
    roots = [Path(p.strip()).expanduser().resolve() for p in entries]
    return [*roots, uploads_root().resolve()]


def require_inside_roots(path: str | Path, what: str = "folder") -> Path:
    """``path`` resolved (symlinks followed), or a UserError when it lies outside every data root.

    The message is the same whether or not the path exists, and names nothing inside it.
    """
    text = str(path).strip()
    if not text:
        raise UserError(f"give a {what} path")
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError):
        raise UserError(f"'{printable(text)}' cannot be resolved (a loop of links?): give the folder itself") from None
    roots = data_roots()
    if not _inside(resolved, roots):
        raise _outside(text, roots)
    if resolved.is_dir():
        _require_links_inside(resolved, text, roots)
    return resolved


def _resolved(path: str) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a loop of links: nothing can be read through it
        return Path(path).absolute().parent


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _outside(text: str, roots: list[Path]) -> UserError:
    shown = ", ".join(printable(str(r)) for r in roots)
    return UserError(f"'{printable(text)}' is outside the folders this dashboard may read ({shown}); the server's "
                     f"administrator can add folders with {ROOTS_ENV} (separated by '{os.pathsep}')")


def _require_links_inside(folder: Path, text: str, roots: list[Path]) -> None:
    """A folder inside the roots whose files are links to files outside them would have the server
    decode (and show) those files: every link under it is resolved and checked. Links to folders are
    never followed when scanning, so only the walk's own entries count; it stops at the file limit."""
    limit, walked = max_files(), 0
    for dirpath, dirnames, filenames in os.walk(folder):  # os.walk does not descend into linked folders
        walked += len(dirnames) + len(filenames)
        if os.path.relpath(dirpath, folder).count(os.sep) >= 40:
            dirnames[:] = []  # deeper than any scan reads (imagefolder.MAX_DEPTH); os.walk recurses
        if walked > limit:
            raise too_many_files(printable(text))
        for name in filenames + dirnames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not _inside(_resolved(path), roots):
                rel = printable(os.path.relpath(path, folder))
                raise UserError(f"'{printable(text)}' holds '{rel}', a link to a file outside the folders this dashboard "
                                f"may read; copy the file in instead of linking it, or the server's administrator can "
                                f"add its folder with {ROOTS_ENV}")


def max_files() -> int:
    value = _limit(MAX_FILES_ENV, DEFAULT_MAX_FILES)
    if value < 1 or value != int(value):  # 0.5 would read as "more than 0 files"
        raise UserError(f"{MAX_FILES_ENV}={printable(os.environ.get(MAX_FILES_ENV, ''), 40)} is not a whole number of files (1 or more)")
    return int(value)


def max_decoded_bytes() -> int:
    return int(_limit(MAX_DECODED_ENV, DEFAULT_MAX_DECODED_GB) * 2**30)


def too_many_files(where: str) -> UserError:
    return UserError(f"'{where}' holds more than {max_files():,} files and folders, the most tlcompare walks; "
                     f"point it at a smaller folder, or raise the limit with {MAX_FILES_ENV}")


def too_many_bytes(where: str, done: int, total: int) -> UserError:
    limit = max_decoded_bytes() / 2**30
    return UserError(f"'{where}': the decoded images pass {limit:g} GB, the most tlcompare keeps for one dataset "
                     f"(after {done:,} of {total:,} images); use fewer images, or raise the limit with {MAX_DECODED_ENV}")


def _limit(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UserError(f"{name}={printable(text)} is not a positive number")
    return value
