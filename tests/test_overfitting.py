"""The overfitting view: per run, plain training accuracy against validation, and the gap, on runs
trained for real by the worker (the dashboard tests' finished store) and on a run from before the
plain per-epoch measurement."""

from __future__ import annotations

import math

import pytest

from tlcompare.analysis.overfitting import AUGMENTED, PLAIN, gaps_display, overfit_curves, overfit_gaps
from tlcompare.charts.overfit import overfit_chart
from tlcompare.store import Store


@pytest.fixture
def trained(finished_home):
    home, experiment_id = finished_home
    return Store(home / "tlcompare.db").experiment_runs(experiment_id)


def test_gaps_are_plain_training_minus_validation_accuracy_of_each_run(trained):
    gaps = overfit_gaps(trained)
    assert len(gaps) == len(trained) == 12 and gaps["gap"].notna().all()
    for r in trained:
        row = gaps[gaps["run_id"] == r["run_id"]].iloc[0]
        assert row["train_acc"] == r["final"]["train_acc_clean"] and row["val_acc"] == r["final"]["val_acc"]
        assert row["gap"] == pytest.approx(100 * (r["final"]["train_acc_clean"] - r["final"]["val_acc"]))
    shown = gaps_display(gaps)
    assert list(shown.columns) == ["variant", "size / class", "seed", "train acc (no augmentation)", "val acc",
                                   "gap (points)"]
    assert list(shown["variant"][:3]) == ["scratch", "pretrained, fine-tune all", "pretrained, linear probe"]


def test_every_epoch_of_a_trained_run_is_measured_on_plain_training_images(trained):
    curves = overfit_curves(trained)
    assert len(curves) == 12 * 2 and set(curves["train_measured"]) == {PLAIN}
    for r in trained:
        rows = curves[curves["run_id"] == r["run_id"]].sort_values("epoch")
        assert list(rows["train_acc"]) == [e["train_acc_clean"] for e in r["epochs"]]
        assert list(rows["val_acc"]) == [e["val_acc"] for e in r["epochs"]]


def test_chart_draws_one_panel_per_variant_with_its_gap(trained):
    curves, gaps = overfit_curves(trained), overfit_gaps(trained)
    fig = overfit_chart(curves, gaps, size=2, seed=1)
    titles = [a.text for a in fig.layout.annotations]
    expected = gaps[(gaps["size"] == 2) & (gaps["seed"] == 1)]
    assert titles == [f"{r['variant']}<br>gap {r['gap']:+.1f} pts" for _, r in expected.iterrows()]
    lines = [t for t in fig.data if t.x[0] is not None]
    assert len(lines) == 2 * 3  # validation and training, per variant
    keys = [t.name for t in fig.data if t.showlegend is not False and t.x[0] is None]
    assert keys == ["validation", "training images (no augmentation)"]
    scratch = next(r for r in trained if r["arm"] == "scratch" and r["size"] == 2 and r["seed"] == 1)
    assert list(lines[1].y) == pytest.approx([100 * e["train_acc_clean"] for e in scratch["epochs"]])
    assert lines[1].fill == "tonexty"  # the shaded band between the two lines is the gap
    empty = overfit_chart(curves, gaps, size=99, seed=0)
    assert "No finished run at this size and seed" in empty.layout.annotations[0].text


def test_a_run_from_before_the_plain_measurement_says_less(trained):
    old = [dict(r, final={k: v for k, v in r["final"].items() if k != "train_acc_clean"},
                epochs=[{k: v for k, v in e.items() if k != "train_acc_clean"} for e in r["epochs"]])
           for r in trained if r["size"] == 2 and r["seed"] == 0]
    gaps = overfit_gaps(old)
    assert gaps["gap"].isna().all()  # never a gap made up from augmented batches
    curves = overfit_curves(old)
    assert set(curves["train_measured"]) == {AUGMENTED}
    assert list(curves["train_acc"][:2]) == [e["train_acc"] for e in old[0]["epochs"]]
    fig = overfit_chart(curves, gaps, size=2, seed=0)
    assert all(a.text.endswith("gap not measured") for a in fig.layout.annotations)
    assert "augmented batches (older runs)" in [t.name for t in fig.data]
    assert not any(math.isfinite(g) for g in gaps["gap"])


def test_unfinished_runs_are_left_out(trained):
    queued = [dict(trained[0], status="queued", epochs=[], final={})]
    assert overfit_gaps(queued).empty and overfit_curves(queued).empty
