import pytest
import torch

from tlcompare.data import load_dataset
from tlcompare.data.splits import make_splits, train_subset
from tlcompare.errors import UserError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_is_real_uint8_data(digits):
    assert digits.images.dtype == torch.uint8 and digits.images.shape == (1797, 1, 8, 8)
    assert digits.labels.shape == (1797,) and set(digits.labels.tolist()) == set(range(10))
    assert digits.images.max() == 255 and digits.images.min() == 0
    assert "BSD" in digits.licence


def test_cache_is_reused(digits, tlcompare_home):
    first = load_dataset("digits")
    files = list((tlcompare_home / "cache" / "datasets").glob("digits-*.pt"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = load_dataset("digits")
    assert files[0].stat().st_mtime_ns == stamp  # read from the cache, not rebuilt
    assert torch.equal(first.images, digits.images)
    assert torch.equal(again.images, digits.images) and torch.equal(again.labels, digits.labels)


def test_splits_are_disjoint_stratified_and_fixed(digits):
    s = make_splits(digits, val_fraction=0.1, test_fraction=0.2, split_seed=0)
    pool, val, test = set(s.pool.tolist()), set(s.val.tolist()), set(s.test.tolist())
    assert not (pool & val) and not (pool & test) and not (val & test)
    assert len(pool | val | test) == len(digits.labels)
    counts = torch.bincount(digits.labels[s.test], minlength=10)
    expected = torch.bincount(digits.labels, minlength=10).float() * 0.2
    assert torch.all((counts.float() - expected).abs() <= 1)
    again = make_splits(digits, 0.1, 0.2, split_seed=0)
    assert torch.equal(again.test, s.test) and torch.equal(again.val, s.val)
    other = make_splits(digits, 0.1, 0.2, split_seed=1)
    assert not torch.equal(other.test, s.test)


def test_subsets_are_nested_stratified_and_seeded(digits):
    s = make_splits(digits, 0.1, 0.2, 0)
    small, mid, big = (train_subset(s, n, seed=3) for n in (5, 20, 100))
    assert set(small.tolist()) <= set(mid.tolist()) <= set(big.tolist())
    for subset, n in ((small, 5), (mid, 20), (big, 100)):
        assert torch.bincount(digits.labels[subset], minlength=10).tolist() == [n] * 10
        assert set(subset.tolist()) <= set(s.pool.tolist())
    assert torch.equal(train_subset(s, 20, seed=3), mid)
    assert not torch.equal(train_subset(s, 20, seed=4), mid)


def test_size_larger_than_a_class_names_the_class(digits):
    s = make_splits(digits, 0.1, 0.2, 0)
    smallest = min(s.pool_counts())
    with pytest.raises(UserError, match=r"more than class '\d' has for training: \d+ images"):
        train_subset(s, smallest + 1, seed=0)
