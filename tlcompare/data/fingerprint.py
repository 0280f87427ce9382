"""A short content hash of a decoded dataset, recorded with every experiment.

Two experiments with the same fingerprint trained and were tested on the same pixels and labels,
whatever the dataset was called or where its files lived; a changed folder or a new package
version of a dataset shows up as a new fingerprint in the report.
"""

from __future__ import annotations

import hashlib
import weakref

import torch

from tlcompare.data.base import ImageDataset

# A worker records the environment at the start of every run; hashing a large dataset each time
# would cost a second per run, so the hash is remembered for as long as the decoded tensor lives
# (keyed by identity: tensors compare element-wise, so a WeakKeyDictionary cannot hold them).
_memo: dict[int, tuple[weakref.ref, str]] = {}


def _update(h, tensor: torch.Tensor | None) -> None:
    if tensor is None:
        h.update(b"none")
        return
    t = tensor.detach().to("cpu").contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def dataset_fingerprint(ds: ImageDataset) -> str:
    """sha256 of class names, images and labels (train pool and official test split), 16 hex digits."""
    known = _memo.get(id(ds.images))
    if known is not None and known[0]() is ds.images:
        return known[1]
    h = hashlib.sha256()
    h.update("\x1f".join(ds.class_names).encode())
    for t in (ds.images, ds.labels, ds.test_images, ds.test_labels):
        _update(h, t)
    digest = h.hexdigest()[:16]
    key = id(ds.images)
    _memo[key] = (weakref.ref(ds.images, lambda _ref, key=key: _memo.pop(key, None)), digest)
    return digest
