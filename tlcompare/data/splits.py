"""Splits shared by every run of an experiment, and nested training subsets per seed.

The test and validation sets depend only on the dataset and ``split_seed``, never on a run's
seed, so every run of an experiment is scored on the same images (under ``validation = "within"``
the validation images are instead a fifth of each run's own labelled images: ``within_split``). Training subsets are drawn per
seed from what remains (the pool): each class's pool is shuffled once per seed and a size-N subset
is its first N images, so for one seed the 10-per-class subset lies inside the 50-per-class one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tlcompare.data.base import ImageDataset
from tlcompare.errors import UserError
from tlcompare.spec import within_val_count
from tlcompare.text.escape import printable


@dataclass
class Splits:
    pool: torch.Tensor  # indices into dataset.images that training subsets are drawn from
    val: torch.Tensor  # indices into dataset.images
    test: torch.Tensor | None  # indices into dataset.images; None when the official test split is used
    labels: torch.Tensor  # dataset.labels, kept for subset drawing
    class_names: list[str]

    def pool_counts(self) -> list[int]:
        return torch.bincount(self.labels[self.pool], minlength=len(self.class_names)).tolist()

    def max_size(self) -> int:
        """The largest size per class that every class can provide."""
        return min(self.pool_counts())


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + int(k) + 1) % (2**62)
    return torch.Generator().manual_seed(seed)


def make_splits(ds: ImageDataset, val_fraction: float, test_fraction: float, split_seed: int) -> Splits:
    """Stratified, seeded split of ``ds.images`` into test (unless official), validation and pool."""
    labels = ds.labels
    has_official_test = ds.test_images is not None
    g = _generator(split_seed, 7919)
    pool, val, test = [], [], []
    for c in range(ds.num_classes):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n = len(idx)
        # At least one validation and test image per class when a class has three or more.
        n_test = 0 if has_official_test else (max(1, round(n * test_fraction)) if n >= 3 else 0)
        n_val = max(1, round(n * val_fraction)) if n - n_test >= 2 else 0
        test.append(idx[:n_test])
        val.append(idx[n_test : n_test + n_val])
        pool.append(idx[n_test + n_val :])
    return Splits(
        pool=torch.sort(torch.cat(pool)).values,
        val=torch.sort(torch.cat(val)).values,
        test=None if has_official_test else torch.sort(torch.cat(test)).values,
        labels=labels,
        class_names=list(ds.class_names),
    )


def holdout_problem(splits: Splits) -> str | None:
    """Classes left without a validation image, or without a test image when the dataset has no
    official test split (fewer than 3 images, or 2): such a class trains, but its accuracy cannot be
    measured (no per-class score, a confusion row of zeros), so the data is refused before any run."""
    k = len(splits.class_names)
    totals = torch.bincount(splits.labels, minlength=k).tolist()
    val = torch.bincount(splits.labels[splits.val], minlength=k).tolist()
    test = None if splits.test is None else torch.bincount(splits.labels[splits.test], minlength=k).tolist()
    thin = [c for c in range(k) if totals[c] and (val[c] == 0 or (test is not None and test[c] == 0))]
    if not thin:
        return None
    c = min(thin, key=lambda c: totals[c])
    need = "3 (one each for training, validation and test)" if test is not None else "2 (one for training, one for validation)"
    images = "image" if totals[c] == 1 else "images"
    others = f" ({len(thin) - 1} other classes too)" if len(thin) > 1 else ""
    return (f"class '{printable(splits.class_names[c])}' has {totals[c]} {images}{others}: a class needs at least {need}, "
            "or its accuracy cannot be measured; add images to it or remove its folder")


def check_sizes(splits: Splits, sizes: list[int] | tuple[int, ...]) -> None:
    """Raise one clear error when a size asks for more images than a class has for training."""
    problem = sizes_problem(splits.class_names, splits.pool_counts(), sizes)
    if problem:
        raise UserError(problem)


def sizes_problem(class_names: list[str], pool_counts: list[int], sizes) -> str | None:
    """Why the largest size asks for more images than a class has for training (None when it fits)."""
    biggest = max(sizes)
    short = [(name, n) for name, n in zip(class_names, pool_counts, strict=True) if n < biggest]
    if not short:
        return None
    name, n = min(short, key=lambda t: t[1])
    others = f" ({len(short) - 1} other classes are also too small)" if len(short) > 1 else ""
    return (f"size {biggest} per class is more than class '{name}' has for training: {n} images "
            f"after holding out validation and test images{others}; use sizes up to {min(pool_counts)}")


def _labelled(splits: Splits, size: int, seed: int) -> list[torch.Tensor]:
    """Per class, the ``size`` labelled images of ``seed`` in their drawing order."""
    check_sizes(splits, [size])
    pool_labels = splits.labels[splits.pool]
    chosen = []
    for c in range(len(splits.class_names)):
        members = splits.pool[pool_labels == c]
        # The permutation depends on the seed and class only, never on the size: that is what
        # makes subsets nested.
        perm = torch.randperm(len(members), generator=_generator(seed, c, 104729))
        chosen.append(members[perm[:size]])
    return chosen


def train_subset(splits: Splits, size: int, seed: int) -> torch.Tensor:
    """Indices of ``size`` training images per class for ``seed``; nested across sizes."""
    return torch.sort(torch.cat(_labelled(splits, size, seed))).values


def _within_roles(size: int) -> torch.Tensor:
    """Which of the first ``size`` positions of a class's drawing order are validation images.

    validation = "within": the validation images come out of the N labelled images per class, as a
    user with N labelled images would have to do it (``spec.within_val_count``: 20 %, at least 1).
    Position i is a validation image when the count grows there (within_val_count(i + 1) >
    within_val_count(i)). A position's role never depends on the size, so for one seed the
    validation images at N lie inside those at 2N, and so do the training images.
    """
    counts = torch.tensor([within_val_count(n) for n in range(size + 1)])
    return counts[1:] > counts[:-1]


def within_split(splits: Splits, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) indices of the ``size`` labelled images per class for ``seed``: nested
    across sizes, disjoint from each other and from the test set, the same for every arm."""
    roles = _within_roles(size)
    labelled = _labelled(splits, size, seed)
    train = torch.cat([members[~roles[: len(members)]] for members in labelled])
    val = torch.cat([members[roles[: len(members)]] for members in labelled])
    return torch.sort(train).values, torch.sort(val).values


def run_split(splits: Splits, size: int, seed: int, validation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) indices of one run: the held-out validation set shared by every run,
    or (``within``) a fifth of the run's own labelled images."""
    if validation == "within":
        return within_split(splits, size, seed)
    return train_subset(splits, size, seed), splits.val
