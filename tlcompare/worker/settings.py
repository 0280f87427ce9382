"""Durations a worker takes from its flags and the environment, checked without importing torch
(so ``tlcompare worker`` refuses a bad value at once, before any heavy import)."""

from __future__ import annotations

from tlcompare.errors import UserError
from tlcompare.text.escape import printable


def seconds(value, name: str) -> float:
    """A finite number of seconds >= 0, else one line naming ``name`` (``nan`` would make every
    comparison false: a worker told to exit after ``nan`` idle seconds would never exit)."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not (0 <= number < float("inf")):
        raise UserError(f"{name}={printable(str(value), 40)} is not a number of seconds (0 or more, e.g. 30)")
    return number
