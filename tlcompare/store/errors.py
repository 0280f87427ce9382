"""What SQLite's errors about the store file mean to the user, in one line each.

The CLI and every dashboard page show these same lines for a damaged, truncated, read-only,
future-schema or unopenable store, and for a full disk; the file itself is never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tlcompare.errors import UserError
from tlcompare.text.escape import printable


class StoreError(UserError):
    """The store file cannot be used as asked; the message says why and what to do."""


def damaged_message(path: Path, detail: str) -> str:
    return (f"the store '{printable(str(path))}' is damaged ({printable(detail, 160)}); it was left untouched. "
            f"Save what is readable with `tlcompare store backup COPY.db`, then move the damaged file aside "
            f"(a new store starts empty) or point TLCOMPARE_HOME at another folder")


def readonly_message(path: Path) -> str:
    return (f"the store '{printable(str(path))}' is read-only: listing, showing and reports work, but running "
            f"or changing experiments needs write access; make the file and its folder writable, or set "
            f"TLCOMPARE_HOME to a writable folder")


def cannot_write(e: Exception) -> bool:
    text = str(e).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def translate(path: Path, e: sqlite3.DatabaseError) -> str | None:
    """The user's line for an SQLite error, or None when it is not about the file (a bug)."""
    text = str(e).lower()
    shown = printable(str(path))
    if "disk is full" in text:
        return (f"the disk holding the store '{shown}' is full: free some space and try again "
                "(what was stored before is intact)")
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return damaged_message(path, str(e))
    if "readonly" in text or "read-only" in text:
        return readonly_message(path)
    if "unable to open" in text or "disk i/o error" in text:
        return f"cannot open the store '{shown}' ({e}); check that its folder exists and is readable"
    if "locked" in text:
        return (f"the store '{shown}' stayed locked by another process for too long; try again (a worker "
                "or another tlcompare command may be writing)")
    return None


@contextmanager
def store_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's errors about the file into a StoreError with the user's line."""
    try:
        yield
    except sqlite3.DatabaseError as e:
        message = translate(path, e)
        if message is None:
            raise
        raise StoreError(message) from None


def store_problem(path: str | Path, error: BaseException) -> str:
    """The dashboard's one line for a store it cannot open or read: the lines above for SQLite's
    errors, the store's own words for a newer schema, and an unopenable path (a folder in the
    file's place, a folder that cannot be created)."""
    shown = printable(str(path))
    if isinstance(error, UserError):
        return str(error) if shown in str(error) else f"the store '{shown}': {error}"
    if isinstance(error, sqlite3.DatabaseError):
        message = translate(Path(path), error)
        if message is not None:
            return message
    reason = printable(getattr(error, "strerror", None) or str(error) or type(error).__name__, 200)
    return (f"cannot open the store '{shown}' ({reason}); it must be a readable, writable SQLite file in a "
            "writable folder: fix that or point TLCOMPARE_HOME at another folder")
