"""What an experiment form needs to know about a dataset before anything trains.

The largest training-set size a dataset allows depends on its split (validation and test images
are held out first), so it is measured on the real split rather than guessed from the image count.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcompare.data import dataset_info, load_dataset
from tlcompare.data.sources import canonical_source
from tlcompare.data.splits import holdout_problem, make_splits


@dataclass(frozen=True)
class DatasetFacts:
    name: str
    class_names: list[str]
    pool_counts: list[int]  # training images available per class after the split
    n_val: int
    n_test: int
    image_hw: tuple[int, int]
    channels: int
    # The split the pools were measured on: (val_fraction, test_fraction, split_seed).
    split: tuple[float, float, int] | None = None
    # A class without a validation or test image (splits.holdout_problem), None when every class has both.
    holdout: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def max_size(self) -> int:
        """Largest size per class every class can provide: the ceiling for training-set sizes."""
        return min(self.pool_counts)


def dataset_facts(name: str, data_root: str | None = None, val_fraction: float = 0.1,
                  test_fraction: float = 0.2, split_seed: int = 0) -> DatasetFacts | None:
    """Facts measured on the real split; None when the data is not on this machine (nothing downloads)."""
    info = dataset_info(name)
    if info.unavailable_reason(data_root) is not None:
        return None
    ds = load_dataset(name, data_root)
    splits = make_splits(ds, val_fraction, test_fraction, split_seed)
    n_test = len(splits.test) if splits.test is not None else int(ds.test_labels.shape[0])
    return DatasetFacts(
        name=name, class_names=list(ds.class_names), pool_counts=splits.pool_counts(),
        n_val=int(len(splits.val)), n_test=n_test, image_hw=ds.image_hw, channels=ds.channels,
        split=(val_fraction, test_fraction, split_seed), holdout=holdout_problem(splits),
    )


def clamp_sizes(sizes: list[int], max_size: int | None) -> tuple[list[int], list[str]]:
    """Sizes within 1..max_size, sorted and de-duplicated, plus one note per value that was changed."""
    notes, out = [], set()
    for s in sizes:
        if s < 1:
            notes.append(f"{s} is not a size: dropped")
            continue
        if max_size is not None and s > max_size:
            notes.append(f"{s} per class is more than the smallest class has for training: using {max_size}")
            s = max_size
        out.add(s)
    return sorted(out), notes


def pool_problem(spec, facts: DatasetFacts | None = None) -> str | None:
    """Sizes larger than a class's training pool, said when the spec is built, before anything is
    stored (None when they fit).

    ``facts``: the pools the caller measured already (the form keeps them), used when they were
    measured on this spec's dataset and split. Otherwise the pools are measured here, from the
    decoded dataset: an image folder not decoded yet is decoded now, once (the worker then finds it
    in the cache). Data not on this machine has no known pools: the worker says it per run, as
    soon as it has downloaded the data.
    """
    from tlcompare.data.splits import sizes_problem

    split = (spec.val_fraction, spec.test_fraction, spec.split_seed)
    if facts is None or canonical_source(facts.name) != spec.dataset or facts.split != split:
        if dataset_info(spec.dataset).unavailable_reason(spec.data_root) is not None:
            return None
        ds = load_dataset(spec.dataset, spec.data_root, image_size=spec.image_size)
        splits = make_splits(ds, *split)
        class_names, pools, holdout = list(splits.class_names), splits.pool_counts(), holdout_problem(splits)
    else:
        class_names, pools, holdout = facts.class_names, facts.pool_counts, facts.holdout
    if holdout:
        return f"dataset: {holdout}"
    problem = sizes_problem(class_names, pools, spec.sizes)
    return f"sizes: {problem}" if problem else None
