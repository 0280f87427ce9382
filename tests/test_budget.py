"""Training budgets: the spec fields, the config hash, the schedule and stop rule of each budget."""

import pytest

from tlcompare.errors import SpecError
from tlcompare.spec import build_spec, spec_from_dict
from tlcompare.train.budget import PLATEAU_DECAY, Budget


def test_default_budget_is_converged_and_old_specs_read_as_epochs():
    assert build_spec({}).budget == "converged"
    stored = build_spec({"budget": "epochs"}).to_dict()
    del stored["budget"]  # a spec stored before budgets existed
    assert spec_from_dict(stored).budget == "epochs"


def test_equal_epoch_runs_keep_their_hashes_from_before_budgets():
    # Hashes computed by the version before budgets existed, for the same spec (validated on the held-out
    # set, as every run did then: the key of a held_out run has not changed since).
    spec = build_spec(dict(sizes=[5], seeds=[0], freeze=[0, "all"], epochs=7, image_size=16, budget="epochs",
                           validation="held_out"))
    assert [r.config_hash() for r in spec.runs()] == ["b639e58c64b75e952134", "e4e7b6a5e526f304ecf9",
                                                      "e981aa8be57392385c86"]


def test_the_budget_is_in_the_hash_only_where_it_changes_the_result():
    base = dict(sizes=[5], seeds=[0], freeze=["all"], image_size=16)
    h = lambda **v: build_spec({**base, **v}).runs()[0].config_hash()  # noqa: E731
    assert h(budget="converged") != h(budget="epochs") != h(budget="steps")
    assert h(budget="converged", patience=3) != h(budget="converged", patience=4)
    # Settings of another budget change nothing.
    assert h(budget="epochs", patience=3) == h(budget="epochs", patience=4)
    assert h(budget="steps", steps=50, epochs=3) == h(budget="steps", steps=50, epochs=9)
    assert h(budget="steps", steps=50) != h(budget="steps", steps=60)
    # The time-to-target setting is about reading results, not making them.
    assert h(budget="epochs", target_acc=0.5) == h(budget="epochs", target_acc=0.9)


def test_bad_budget_values_are_listed_with_the_fix():
    with pytest.raises(SpecError) as e:
        build_spec({"budget": "forever", "steps": 0, "patience": 0, "target_acc": 2})
    text = "\n".join(e.value.problems)
    assert "budget: unknown 'forever'; choose one of epochs, steps, converged" in text
    assert "steps: 0" in text and "patience: 0" in text and "target_acc: 2.0" in text
    with pytest.raises(SpecError, match="min_steps: -1 must be between 0 and"):
        build_spec({"budget": "converged", "min_steps": -1})


def test_random_control_adds_one_arm_per_frozen_depth():
    spec = build_spec(dict(sizes=[5], seeds=[0, 1], freeze=[0, 2, "all"], random_control=True))
    arms = [(r.arm, r.freeze) for r in spec.runs() if r.seed == 0]
    assert arms == [("scratch", None), ("pretrained", 0), ("pretrained", 2), ("pretrained", "all"),
                    ("random", 2), ("random", "all")]
    random_probe = spec.runs()[5]
    # The control copies the pretrained recipe; only the init differs.
    assert random_probe.lr == spec.lr_for("pretrained") and random_probe.head_lr_mult == spec.head_lr_mult
    assert not random_probe.pretrained and random_probe.depth == "all"
    assert random_probe.config()["weights"] is None


class Spec:
    def __init__(self, **v):
        self.budget, self.epochs, self.steps, self.patience, self.max_epochs = "epochs", 4, 10, 2, 50
        self.warmup_epochs = 1.0
        self.__dict__.update(v)


def test_steps_budget_ends_on_the_exact_step_count_with_a_partial_epoch():
    b = Budget(Spec(budget="steps", steps=10), steps_per_epoch=4)
    assert b.max_epochs == 3 and [b.steps_in_epoch(e) for e in (1, 2, 3)] == [4, 4, 2]
    assert b.end_epoch(1, 0.1) == (True, None) and b.end_epoch(2, 0.2)[1] is None
    assert b.end_epoch(3, 0.2) == (False, "steps")
    # Warm-up over one epoch, then cosine to zero at the last step.
    assert b.lr_factor(0) == pytest.approx(0.25) and b.lr_factor(3) == pytest.approx(1.0)
    assert b.lr_factor(10) == pytest.approx(0.0, abs=1e-12)


def test_converged_decays_once_on_a_plateau_then_stops_never_before_the_minimum():
    b = Budget(Spec(budget="converged", epochs=4, patience=2, max_epochs=50), steps_per_epoch=5)
    assert b.selects_best
    # Epoch 1 is the best; 2 and 3 are no better, but the minimum is 4 epochs.
    assert b.end_epoch(1, 0.5) == (True, None)
    assert b.end_epoch(2, 0.5) == (False, None) and b.end_epoch(3, 0.4) == (False, None)
    assert b.lr_factor(20) == 1.0
    assert b.end_epoch(4, 0.4) == (False, None)  # plateau at the minimum: the rate drops tenfold
    assert b.lr_factor(20) == PLATEAU_DECAY
    assert b.end_epoch(5, 0.6) == (True, None)  # the lower rate helped: patience starts again
    assert b.end_epoch(6, 0.6) == (False, None)
    assert b.end_epoch(7, 0.6) == (False, "plateau")
    assert b.best_epoch == 5


def test_converged_stops_at_the_cap():
    b = Budget(Spec(budget="converged", epochs=1, patience=5, max_epochs=3), steps_per_epoch=2)
    assert [b.end_epoch(e, 0.1 * e)[1] for e in (1, 2, 3)] == [None, None, "cap"]


# -- converged counts optimizer steps ------------------------------------------------------------------
LEGACY_CONVERGED = {"dataset": "digits", "model": "efficientnet_lite0", "weights": None, "data_root": None,
                    "sizes": [5], "freeze": ["all"], "seeds": [0], "budget": "converged", "epochs": 20,
                    "steps": 1000, "patience": 3, "max_epochs": 300, "batch_size": 64, "image_size": 16,
                    "augment": "crop", "optimizer": "adamw", "lr_scratch": None, "lr_pretrained": None,
                    "weight_decay": 0.05, "warmup_epochs": 1.0, "label_smoothing": 0.0, "head_lr_mult": 10.0,
                    "min_steps_per_epoch": 4, "small_cnn": False, "feature_cache": True, "random_control": False,
                    "target_acc": 0.8, "val_fraction": 0.1, "test_fraction": 0.2, "split_seed": 0,
                    "device": "auto", "name": "", "weights_key": None, "source_key": None}


def test_a_converged_spec_stored_before_step_budgets_keeps_its_epoch_rule_and_hashes():
    old = spec_from_dict(LEGACY_CONVERGED)
    assert old.min_steps is None and "patience 3 epochs" in old.budget_text()
    # Hashes computed by the version whose converged budget counted epochs, for this stored spec.
    assert [r.config_hash() for r in old.runs()] == ["f80c73c10c8d2ec3fac0", "1dc350a2981099304a4e"]
    b = Budget(old, steps_per_epoch=4)
    assert [b.end_epoch(e, 0.5)[1] for e in range(1, 27)][-1] == "plateau"  # 20 epochs, then 3 + 3
    new = build_spec({k: v for k, v in LEGACY_CONVERGED.items() if k not in ("weights_key", "source_key")})
    assert new.min_steps == 500 and new.runs()[0].config_hash() != old.runs()[0].config_hash()
    assert spec_from_dict(new.to_dict()) == new


def test_converged_counts_steps_so_a_small_subset_gets_as_many_steps_as_a_large_one():
    spec = build_spec({"sizes": [5, 100], "seeds": [0], "freeze": ["all"]})
    assert spec.budget == "converged" and spec.min_steps == 500 and spec.patience == 200
    for size in (5, 100):
        run = spec.runs()[0 if size == 5 else 2]
        assert run.size == size
        n = size * 10  # digits: 10 classes
        per_epoch = -(-n // run.batch_size(n))
        b = Budget(spec, per_epoch)
        b.end_epoch(1, 0.9)  # the best epoch comes first: nothing after it improves
        epoch, stop = 1, None
        while stop is None:
            epoch += 1
            stop = b.end_epoch(epoch, 0.5)[1]
        # No decay before the minimum of 500 steps, then 200 more steps of patience at the lower rate:
        # about 700 steps whatever the size (validation is read once an epoch, so up to 2 epochs more).
        assert stop == "plateau" and 700 <= epoch * per_epoch < 700 + 2 * per_epoch
    # At 5 per class an epoch is 4 optimizer steps: 500 steps are 125 epochs.
    assert spec.runs()[0].batch_size(50) == 13 and -(-50 // 13) == 4


def test_the_epoch_cap_never_cuts_the_minimum_short_at_tiny_sizes():
    # 1 image per class trains only under held_out (within, it would be the validation image).
    spec = build_spec({"sizes": [1], "seeds": [0], "freeze": ["all"], "max_epochs": 10, "validation": "held_out"})
    b = Budget(spec, steps_per_epoch=2)  # 1 image per class: 10 images, 2 steps an epoch
    assert b.max_epochs == 250
    stops = [b.end_epoch(e, 0.1)[1] for e in range(1, 251)]
    assert all(s is None for s in stops[:249]) and stops[-1] == "cap"


def test_patience_resets_after_a_new_best_and_the_decay_counts_steps():
    b = Budget(Spec(budget="converged", min_steps=8, patience=6, max_epochs=100), steps_per_epoch=3)
    assert b.end_epoch(1, 0.5) == (True, None)
    assert b.end_epoch(2, 0.5) == (False, None)  # 3 steps without a new best
    assert b.end_epoch(3, 0.5) == (False, None)  # 6 steps: at 9 steps the minimum of 8 is reached: decay
    assert b.lr_factor(30) == PLATEAU_DECAY
    assert b.end_epoch(4, 0.7) == (True, None)
    assert b.end_epoch(5, 0.7) == (False, None) and b.end_epoch(6, 0.7) == (False, "plateau")
