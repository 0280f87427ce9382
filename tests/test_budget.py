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
    # Hashes computed by the version before budgets existed, for the same spec.
    spec = build_spec(dict(sizes=[5], seeds=[0], freeze=[0, "all"], epochs=7, image_size=16, budget="epochs"))
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
    with pytest.raises(SpecError, match="max_epochs: 5 is below epochs"):
        build_spec({"budget": "converged", "epochs": 10, "max_epochs": 5})


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
