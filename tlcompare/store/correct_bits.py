"""Which test images a run got right, packed small enough to keep with every run.

One bit per test image in the experiment's fixed test order, as ``"<count>:<base64 of the packed
bits>"``: 10,000 test images take 1.7 kB. The count travels with the bits so that two runs scored
on different test sets are never compared image by image.
"""

from __future__ import annotations

import base64

import numpy as np


def pack_correct(correct) -> str:
    bits = np.asarray(correct, dtype=bool).ravel()
    return f"{len(bits)}:{base64.b64encode(np.packbits(bits).tobytes()).decode('ascii')}"


def unpack_correct(text: str | None) -> np.ndarray | None:
    """The boolean array back, or None for a run stored without it (or an unreadable value)."""
    if not text or not isinstance(text, str) or ":" not in text:
        return None
    count, _, data = text.partition(":")
    try:
        n = int(count)
        bits = np.unpackbits(np.frombuffer(base64.b64decode(data, validate=True), dtype=np.uint8))
    except ValueError:
        return None
    if n < 0 or len(bits) < n or len(bits) - n >= 8:
        return None
    return bits[:n].astype(bool)
