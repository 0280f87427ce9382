"""The training loop on real digits, on the CPU: pairing, freezing, determinism, divergence."""

import math

import pytest
import torch

from tlcompare.spec import build_spec
from tlcompare.train import prepare, train_run

# Every test here trains; on one torch thread: beside the other pytest worker (or any busy core) two
# OpenMP threads wait at every barrier for a core, which made these tiny runs several times slower.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

# 4 labelled per class: under validation = within (the default) 1 validates and 3 train, 30 training images.
TINY = {"dataset": "digits", "image_size": 16, "sizes": [4], "seeds": 1, "freeze": [0, "all"],
        "budget": "epochs", "epochs": 2, "batch_size": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def tiny():
    spec = build_spec(TINY)
    return spec, prepare(spec, torch.device("cpu"))


def _run(spec, data, arm, freeze=None, seed=0, size=4):
    run = next(r for r in spec.runs() if r.arm == arm and r.freeze == freeze)
    run = type(run)(spec, arm, size, seed, freeze)
    return train_run(run, data, torch.device("cpu"))


def test_both_arms_train_on_the_same_subset(tiny):
    spec, data = tiny
    scratch = _run(spec, data, "scratch")
    probe = _run(spec, data, "pretrained", "all")
    assert scratch.subset_hash == probe.subset_hash and scratch.n_train == probe.n_train == 30
    assert scratch.batch_size == probe.batch_size
    other_seed = _run(spec, data, "scratch", seed=1)
    assert other_seed.subset_hash != scratch.subset_hash


def test_run_records_every_metric_per_epoch(tiny):
    spec, data = tiny
    res = _run(spec, data, "pretrained", 0)
    assert res.status == "done" and len(res.epochs) == 2
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "train_acc_clean", "train_seconds", "eval_seconds",
                "val_seconds", "plain_seconds", "images_per_sec", "peak_mem_mb"):
        assert all(math.isfinite(e[key]) for e in res.epochs), key
    # The test set is the reported model's alone: no epoch carries a test score.
    assert not any(key.startswith("test") for e in res.epochs for key in e)
    assert all(math.isfinite(res.final[k]) for k in ("test_acc", "test_balanced_acc", "test_macro_f1", "test_seconds"))
    cm = torch.tensor(res.confusion)
    assert cm.shape == (10, 10) and cm.sum() == len(data.test_labels)
    assert abs(cm.diag().sum().item() / cm.sum().item() - res.final["test_acc"]) < 1e-9
    assert len(res.per_class_acc) == 10
    assert all(m["true"] != m["pred"] for m in res.misclassified)
    assert res.pretrained_source and "efficientnet" in res.pretrained_source.lower()


@pytest.mark.parametrize("freeze", [0, "all"])  # images through the whole network; cached features through the head
def test_each_epoch_measures_training_accuracy_without_augmentation(tiny, freeze, monkeypatch):
    import tlcompare.train.loop as loop
    from tlcompare import evaluation_plan

    spec, data = tiny
    monkeypatch.setattr(evaluation_plan, "PLAIN_TRAIN_SHARE", 1.0)  # every training image, every epoch
    res = _run(spec, data, "pretrained", freeze)
    clean = [e["train_acc_clean"] for e in res.epochs]
    assert all(0 <= a <= 1 for a in clean)
    # The last epoch's model is the one reported: on all 30 images it scores what the final check does.
    assert clean[-1] == res.final["train_acc_clean"]
    # By default the epochs score an evenly spread half of the subset; at most PLAIN_TRAIN_SAMPLE.
    monkeypatch.undo()
    assert [evaluation_plan.plain_sample_size(n) for n in (5, 30, 50, 500, 5000)] == [5, 15, 25, 250, 1000]
    measured = []
    clean_accuracy = loop._clean_accuracy
    monkeypatch.setattr(evaluation_plan, "PLAIN_TRAIN_SAMPLE", 7)
    monkeypatch.setattr(loop, "_clean_accuracy", lambda pred, labels: measured.append(len(labels)) or clean_accuracy(pred, labels))
    sampled = _run(spec, data, "pretrained", freeze)
    assert measured == [7, 7, 30]  # each epoch on the sample, the final check on every training image
    assert all(abs(7 * e["train_acc_clean"] - round(7 * e["train_acc_clean"])) < 1e-6 for e in sampled.epochs)
    assert loop._even_sample(30, 7, torch.device("cpu")).tolist() == [0, 5, 10, 14, 19, 24, 29]
    assert loop._even_sample(30, 30, torch.device("cpu")) is None


def test_linear_probe_trains_only_the_head(tiny):
    spec, data = tiny
    probe = _run(spec, data, "pretrained", "all")
    full = _run(spec, data, "pretrained", 0)
    assert probe.trainable_params == 1280 * 10 + 10
    assert full.trainable_params == full.total_params == probe.total_params
    assert len(probe.frozen_stages) == 9 and full.frozen_stages == []


def test_cpu_runs_are_deterministic_for_their_seed(tiny):
    spec, data = tiny
    a, b = (_run(spec, data, "scratch") for _ in range(2))
    for ea, eb in zip(a.epochs, b.epochs, strict=True):
        for key in ("train_loss", "val_loss", "train_acc_clean"):
            assert ea[key] == eb[key], key
    assert a.confusion == b.confusion and a.final["test_acc"] == b.final["test_acc"]


def test_an_exploding_learning_rate_is_reported_as_diverged(tiny):
    spec, data = tiny
    hot = build_spec({**TINY, "lr_scratch": 50.0, "optimizer": "sgd", "epochs": 3})
    res = _run(hot, data, "scratch")
    assert res.status == "diverged" and "lower learning rate" in res.error
    assert res.epochs and res.final == {}
    assert res.stop_reason == "diverged" and res.epochs_done == len(res.epochs) < 3


@pytest.mark.parametrize("freeze", [0, "all"])  # images; cached features
def test_a_cancel_between_steps_ends_the_run_with_the_epochs_it_finished(tiny, freeze):
    spec, data = tiny
    run = next(r for r in spec.runs() if r.arm == "pretrained" and r.freeze == freeze)
    asked, steps, epochs = [], [], []

    def stop_at_sixth_ask():
        asked.append(1)
        return len(asked) == 6  # 30 images at batch 8: 4 steps an epoch, so one step into epoch 2

    res = train_run(run, data, torch.device("cpu"), on_epoch=epochs.append, should_stop=stop_at_sixth_ask,
                    on_step=lambda step, total: steps.append((step, total)))
    assert res.status == "cancelled" and res.stop_reason == "cancelled" and res.error is None
    assert steps == [(i, 8) for i in range(1, 6)] and len(asked) == 6
    assert [e["epoch"] for e in res.epochs] == [e["epoch"] for e in epochs] == [1]
    assert res.epochs_done == 1 and res.steps_done == 4
    assert res.final == {} and res.confusion == [] and res.test_correct is None


@pytest.mark.parametrize("budget", [
    {"budget": "epochs", "epochs": 3},  # the last epoch's model is reported
    {"budget": "converged", "min_steps": 16, "patience": 1, "max_epochs": 40},  # the best validation epoch's
])
def test_the_test_set_is_evaluated_once_on_the_reported_model(tiny, budget, monkeypatch):
    from tlcompare.train.inputs import Inputs

    spec, data = tiny
    run_spec = build_spec({**TINY, **budget})
    run = next(r for r in run_spec.runs() if r.arm == "scratch")
    seen, epochs = [], []
    predict = Inputs.predict

    def watched(self, x, y, loss_fn=None):
        if x is self.test[0]:
            # The model that meets the test set is the reported one: its validation accuracy is the
            # reported epoch's, and every epoch has ended before.
            _, val_pred = predict(self, *self.val)
            seen.append(((val_pred == self.val[1]).float().mean().item(), len(epochs)))
        return predict(self, x, y, loss_fn)

    monkeypatch.setattr(Inputs, "predict", watched)
    res = train_run(run, data, torch.device("cpu"), on_epoch=epochs.append)
    assert res.status == "done" and len(seen) == 1
    val_acc, epochs_before = seen[0]
    assert epochs_before == len(res.epochs) and val_acc == res.final["val_acc"]
    reported = res.final["final_epoch"]
    if budget["budget"] == "converged":
        assert reported == res.final["best_epoch"] < len(res.epochs)  # an earlier epoch's weights, kept in memory
        assert val_acc == max(e["val_acc"] for e in res.epochs)
    else:
        assert reported == len(res.epochs) == 3
    assert res.final["test_acc"] == pytest.approx(sum(res.confusion[i][i] for i in range(10)) / len(data.test_labels))
