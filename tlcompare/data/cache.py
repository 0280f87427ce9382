"""Decode a dataset once, keep the tensors on disk under the tlcompare home."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from tlcompare.data.base import ImageDataset
from tlcompare.home import cache_dir

CACHE_FORMAT = 1
log = logging.getLogger("tlcompare.data")


def cache_path(key: dict) -> Path:
    blob = json.dumps({**key, "format": CACHE_FORMAT}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return cache_dir() / "datasets" / f"{key.get('name', 'dataset')}-{digest}.pt"


def cached_dataset(key: dict, build: Callable[[], ImageDataset]) -> ImageDataset:
    """Return the dataset cached under ``key``, building and saving it on first use.

    The file is written to a temporary name and renamed, so a crash mid-write never leaves a
    half-written cache that later loads as valid.
    """
    path = cache_path(key)
    if path.exists():
        try:
            return _load(path)
        except Exception:  # a cache is disposable: rebuild a damaged one
            path.unlink(missing_ok=True)
    dataset = build()
    try:
        _save(dataset, path)
    except OSError as e:
        # A full disk must not cost the decoded data in hand: train from memory, decode again next time.
        log.warning("tlcompare: could not write the dataset cache %s (%s); continuing without it", path, e.strerror or e)
    return dataset


def _save(dataset: ImageDataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(_to_dict(dataset), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _to_dict(ds: ImageDataset) -> dict:
    return {
        "name": ds.name,
        "images": ds.images.contiguous(),
        "labels": ds.labels.contiguous(),
        "class_names": list(ds.class_names),
        "licence": ds.licence,
        "test_images": ds.test_images,
        "test_labels": ds.test_labels,
        "description": ds.description,
        "extra": json.dumps(ds.extra),
    }


def _load(path: Path) -> ImageDataset:
    d = torch.load(path, weights_only=True)
    return ImageDataset(
        name=d["name"],
        images=d["images"],
        labels=d["labels"],
        class_names=list(d["class_names"]),
        licence=d["licence"],
        test_images=d["test_images"],
        test_labels=d["test_labels"],
        description=d["description"],
        extra=json.loads(d["extra"]),
    )
