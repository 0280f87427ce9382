"""validation = "within": the validation images come out of the N labelled images per class."""

from __future__ import annotations

import pytest
import torch

from tlcompare.analysis.validation import plan_line, validation_line
from tlcompare.data import load_dataset
from tlcompare.data.splits import make_splits, run_split, train_subset, within_split
from tlcompare.errors import SpecError
from tlcompare.spec import build_spec, within_val_count


@pytest.fixture(scope="module")
def splits():
    return make_splits(load_dataset("digits"), val_fraction=0.1, test_fraction=0.2, split_seed=0)


def test_a_fifth_of_the_labelled_images_validate_at_least_one_per_class():
    assert [within_val_count(n) for n in (1, 2, 4, 5, 7, 8, 10, 12, 13, 20, 50, 100)] == \
        [1, 1, 1, 1, 1, 2, 2, 2, 3, 4, 10, 20]


@pytest.mark.parametrize("seed", [0, 3])
def test_within_splits_are_disjoint_nested_across_sizes_and_deterministic(splits, seed):
    test, held_out = set(splits.test.tolist()), set(splits.val.tolist())
    previous = (set(), set())
    for size in (2, 5, 10, 20, 50):
        train, val = within_split(splits, size, seed)
        t, v = set(train.tolist()), set(val.tolist())
        assert len(t) == len(train) and len(v) == len(val)
        # disjoint from each other, from the test set and from the held-out validation set
        assert not (t & v) and not ((t | v) & test) and not ((t | v) & held_out)
        # the N labelled images are the same as the training subset under held_out: only their use differs
        assert t | v == set(train_subset(splits, size, seed).tolist())
        labels = splits.labels
        assert torch.bincount(labels[val], minlength=10).tolist() == [within_val_count(size)] * 10
        assert torch.bincount(labels[train], minlength=10).tolist() == [size - within_val_count(size)] * 10
        # nested: a larger N keeps every smaller N's training and validation images in the same role
        assert previous[0] <= t and previous[1] <= v
        previous = (t, v)
        again = within_split(make_splits(load_dataset("digits"), 0.1, 0.2, 0), size, seed)
        assert torch.equal(again[0], train) and torch.equal(again[1], val)
    assert not torch.equal(within_split(splits, 10, seed)[1], within_split(splits, 10, seed + 1)[1])


def test_held_out_runs_keep_the_shared_validation_set(splits):
    train, val = run_split(splits, 5, 0, "held_out")
    assert torch.equal(train, train_subset(splits, 5, 0)) and torch.equal(val, splits.val)


def test_the_spec_takes_within_and_keys_its_runs_on_it():
    base = dict(sizes=[5], seeds=[0], freeze=["all"], image_size=16)
    held, within = build_spec({**base, "validation": "held_out"}), build_spec({**base, "validation": "within"})
    assert held.validation == "held_out" and within.validation == "within"
    assert build_spec(base) == within  # within is the default
    # held_out runs keep their hashes (no key added); within runs are other runs
    assert "validation" not in held.runs()[0].config()
    assert within.runs()[0].config()["validation"] == "within"
    assert within.runs()[0].config_hash() != held.runs()[0].config_hash()
    with pytest.raises(SpecError, match="validation: unknown 'inside'; choose held_out"):
        build_spec({**base, "validation": "inside"})
    for spec in ({**base, "sizes": [1, 5], "validation": "within"}, {**base, "sizes": [1, 5]}):
        with pytest.raises(SpecError, match="sizes: 1 image per class leaves none to train on under validation = "
                                            "within .*or validation = held_out"):
            build_spec(spec)
    assert build_spec({**base, "sizes": [1, 5], "validation": "held_out"}).sizes == (1, 5)


def test_a_spec_stored_before_within_was_the_default_reads_back_as_held_out():
    from tlcompare.spec import spec_from_dict

    base = dict(sizes=[5, 20], seeds=[0, 1], freeze=[0, "all"], image_size=16, budget="epochs", epochs=2)
    held = build_spec({**base, "validation": "held_out"})
    stored = held.to_dict()
    assert stored["validation"] == "held_out"  # said in what is stored now, whatever the default
    del stored["validation"]  # as a spec stored before the key existed
    old = spec_from_dict(stored)
    assert old.validation == "held_out" and old == held
    # its runs keep their keys, so stored results are still matched and reused
    assert [r.config_hash() for r in old.runs()] == [r.config_hash() for r in held.runs()]
    assert all("validation" not in r.config() for r in old.runs())
    # a stored within spec reads back as within; one built today without the key is within
    within = build_spec(base)
    assert spec_from_dict(within.to_dict()) == within and within.validation == "within"
    assert not {r.config_hash() for r in within.runs()} & {r.config_hash() for r in held.runs()}


def test_the_cli_flag_reaches_the_spec():
    import argparse

    from tlcompare.cli import _add_spec_flags, spec_from_args

    parser = argparse.ArgumentParser()
    _add_spec_flags(parser)
    spec = spec_from_args(parser.parse_args(["--sizes", "5", "--seeds", "1", "--validation", "within"]))
    assert spec.validation == "within"
    with pytest.raises(SystemExit):
        parser.parse_args(["--validation", "both"])


def _runs(n_train_by_size, n_val=None):
    return [{"status": "done", "size": n, "n_train": t, "n_val": n_val} for n, t in n_train_by_size.items()]


def test_the_reports_say_the_validation_size_beside_n():
    within = validation_line(_runs({5: 40, 20: 160}), {"validation": "within"}, {})
    assert within == ("Validation: within the labelled images (20 %, at least 1 per class; the rest train): "
                      "1 of the 5 labelled per class validate at 5/class; 4 of the 20 labelled per class validate "
                      "at 20/class.")
    held = validation_line(_runs({5: 50, 20: 200}), {"validation": "held_out"}, {"n_val": 179})
    assert held.startswith("Validation: a held-out set of 179 images, shared by every run; it outnumbers the "
                           "training set at 5/class (50 training images): a user with that few")
    assert "20/class" not in held
    assert validation_line(_runs({50: 500}), {}, {"n_val": 179}) == \
        "Validation: a held-out set of 179 images, shared by every run."


@pytest.mark.slow
def test_a_run_under_within_chooses_on_its_own_labelled_images(one_thread):
    from tlcompare.train import prepare, train_run

    spec = build_spec(dict(dataset="digits", sizes=[5], seeds=[0], freeze=["all"], image_size=16, budget="epochs",
                           epochs=2, augment="none", device="cpu", validation="within"))
    data = prepare(spec, torch.device("cpu"))
    probe = next(r for r in spec.runs() if r.arm == "pretrained")
    result = train_run(probe, data, torch.device("cpu"))
    assert result.status == "done" and result.validation == "within"
    assert (result.n_train, result.n_val) == (40, 10)  # 4 train and 1 validates, per class
    for epoch in result.epochs:  # accuracy over 10 images: whole tenths
        assert epoch["val_acc"] * 10 == pytest.approx(round(epoch["val_acc"] * 10), abs=1e-6)


def test_the_plan_says_where_the_validation_images_come_from_before_any_run():
    from tlcompare.text.setup import setup_line

    assert plan_line("within", [20, 5]) == ("Validation within the labelled images: per class, 1 of 5 and 4 of 20 "
                                            "validate; the rest train.")
    assert plan_line("held_out", [5, 20]) == "Validation on a held-out set, shared by every run."
    assert plan_line("held_out", [5, 20], 10, 179) == (
        "Validation on a held-out set of 179 images, shared by every run: more images than the training set at "
        "5/class, which a user with that few labelled images would not have.")
    assert plan_line("held_out", [20], 10, 179).endswith("shared by every run.")
    # the setup line above Results and History names the mode; a spec stored without the key validated held out
    spec = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 32, "seeds": [0, 1]}
    assert setup_line({**spec, "validation": "within"}).endswith("· 2 seeds · validation within the labelled images")
    assert setup_line(spec).endswith("· 2 seeds · validation on a held-out set")
    assert setup_line({**spec, "validation": "held_out"}) == setup_line(spec)
    from tlcompare.text.setup import setup_rows

    assert dict(setup_rows(spec))["validation images"] == "held_out"
    assert dict(setup_rows({**spec, "validation": "within"}))["validation images"] == "within"


def test_the_reports_manifest_names_no_held_out_set_for_a_within_experiment():
    from tlcompare.report.content import _split_row

    env = {"n_val": 179, "n_test": 359}
    assert _split_row({"validation": "held_out"}, env) == ("validation / test images", "179 / 359")
    assert _split_row({}, env) == ("validation / test images", "179 / 359")  # stored before within existed
    label, text = _split_row({"validation": "within"}, env)
    assert "179" not in text and text.startswith("within the labelled images") and text.endswith("/ 359")
