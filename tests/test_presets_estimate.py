"""Presets, the run-time estimate and its throughput probe, dataset facts and the mistake gallery."""

from __future__ import annotations

import json

import pytest

from tlcompare.analysis.mistakes import display_image, experiment_test_set, mistakes
from tlcompare.data.facts import clamp_sizes, dataset_facts
from tlcompare.estimate.runtime import Throughput, cached_throughput, estimate, run_seconds
from tlcompare.home import cache_dir
from tlcompare.presets import PRESETS, default_preset
from tlcompare.spec import build_spec

TP = Throughput(device="test", model="efficientnet_lite0", image_size=32, batch_size=64, step_overhead=0.05,
                image_seconds_full=0.004, image_seconds_head=0.001, eval_image_seconds=0.0005, build_seconds=0.5)


@pytest.mark.parametrize("key", list(PRESETS))
def test_every_preset_is_a_valid_experiment_with_a_story(key):
    preset = PRESETS[key]
    spec = preset.spec()
    assert spec.name and len(preset.story) > 80
    assert len(spec.seeds) >= 1 and spec.runs()
    # Validation within the labelled images where it chooses something (a rate, a stopping epoch);
    # held out where it chooses nothing, so that every labelled image trains.
    chooses = spec.tune != "none" or spec.budget == "converged"
    assert spec.validation == ("within" if chooses else "held_out"), (spec.validation, spec.tune, spec.budget)


def test_the_cpu_preset_is_small_and_the_default_without_a_gpu():
    assert default_preset(has_gpu=False) == "cpu_quick"
    assert default_preset(has_gpu=True) != "cpu_quick"
    spec = PRESETS["cpu_quick"].spec()
    assert spec.dataset == "digits" and spec.image_size <= 32 and len(spec.runs()) <= 18 and spec.epochs <= 15
    # Three seeds: on two, a paired t-test has one degree of freedom and Holm over the preset's 4
    # comparisons read a +27-point gain at 5 per class as "within noise" (docs/benchmarks.md).
    assert len(spec.seeds) >= 3
    # Every preset, the default included, gives a confidence interval: one seed would not.
    assert all(len(p.spec().seeds) >= 2 for p in PRESETS.values())


def test_estimate_adds_up_runs_epochs_and_evaluation():
    spec = build_spec(dict(sizes=[5], seeds=1, freeze=["all"], budget="epochs", epochs=2, batch_size=64, min_steps_per_epoch=1,
                           validation="held_out"))
    scratch, probe = spec.runs()
    # 50 images in one batch of 50: per epoch 1 step + evaluating 40 validation images and 25 of the
    # training images (evaluation_plan); once at the end the 60 test images and all 50 training images.
    once = (60 + 50) * 0.0005
    assert run_seconds(scratch, TP, 10, 40, 60, 9) == pytest.approx(0.5 + 2 * (0.05 + 50 * 0.004 + 65 * 0.0005) + once)
    assert run_seconds(probe, TP, 10, 40, 60, 9) == pytest.approx(0.5 + 2 * (0.05 + 50 * 0.001 + 65 * 0.0005) + once)
    est = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9, worker_running=False)
    assert est.n_runs == 2 and est.startup_seconds > 0
    assert est.seconds == pytest.approx(est.startup_seconds + sum(est.seconds_by_variant.values()))
    assert set(est.seconds_by_variant) == {"scratch", "pretrained, linear probe"}
    # validation = "within" (the default): of the 5 labelled per class 1 validates, 4 train, whatever the
    # held-out set: per epoch 1 step over 40 images + 10 validation and 20 training images evaluated;
    # once the 60 test images and the 40 training images.
    scratch = build_spec(dict(sizes=[5], seeds=1, freeze=["all"], budget="epochs", epochs=2, batch_size=64,
                              min_steps_per_epoch=1)).runs()[0]
    assert scratch.experiment.validation == "within"
    assert run_seconds(scratch, TP, 10, 40, 60, 9) == pytest.approx(
        0.5 + 2 * (0.05 + 40 * 0.004 + 30 * 0.0005) + (60 + 40) * 0.0005)


def test_estimate_counts_one_feature_pass_for_cached_linear_probes():
    spec = build_spec(dict(sizes=[5, 10], seeds=2, freeze=["all"], budget="epochs", epochs=2, augment="none"))
    est = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9, worker_running=True, n_images=1000)
    # Four probes: each builds its model, and only the first runs the body, once over 1,000 images.
    assert est.seconds_by_variant["pretrained, linear probe"] == pytest.approx(4 * 0.5 + 1000 * 0.0005)


@pytest.mark.slow
def test_probe_measures_this_device_and_is_cached(monkeypatch, one_thread):
    first = cached_throughput("small_cnn", 16, 16, "cpu")
    assert first.images_per_second(0.0) > 0 and first.images_per_second(1.0) > 0 and first.eval_image_seconds > 0
    assert first.model == "small_cnn" and first.device.startswith("CPU")
    calls = []
    monkeypatch.setattr("tlcompare.estimate.runtime.probe_throughput", lambda *a, **k: calls.append(a))
    assert cached_throughput("small_cnn", 16, 16, "cpu") == first and not calls  # from the disk cache
    assert len(json.loads((cache_dir() / "throughput.json").read_text())) == 1


def test_dataset_facts_come_from_the_real_split():
    facts = dataset_facts("digits")
    assert facts.num_classes == 10 and facts.max_size == min(facts.pool_counts) and facts.n_test > 0


def test_sizes_are_clamped_and_deduplicated():
    assert clamp_sizes([5, 500, 20, 5, 0], 122) == ([5, 20, 122], [
        "0 is not a size: dropped", "500 per class is more than the smallest class has for training: using 122"][::-1])
    assert clamp_sizes([7], None) == ([7], [])


def test_gallery_rebuilds_the_test_set_the_runs_were_scored_on():
    from tlcompare.train import prepare, resolve_device

    spec = build_spec(dict(dataset="digits", sizes=[5], image_size=8))
    data = prepare(spec, resolve_device("cpu"))
    test = experiment_test_set(spec.to_dict())
    assert (test.labels == data.test_labels.numpy()).all()
    assert (test.images[..., 0] == data.test_images[:, 0].numpy()).all()  # 8 px: no resizing
    run = {"misclassified": [{"index": 3, "true": int(test.labels[3]), "pred": 0},
                             {"index": 1, "true": int(test.labels[1]), "pred": 2}]}
    items = mistakes(run, test, other_wrong={1})
    assert [m.index for m in items] == [3, 1]  # mistakes only this run made come first
    assert items[1].also_wrong_elsewhere and items[0].true == test.class_names[test.labels[3]]
    assert display_image(test.images[0]).shape == (96, 96)


# -- one source of truth for time figures -------------------------------------------------------------
SLOW = Throughput(device="test", model="efficientnet_lite0", image_size=32, batch_size=64, step_overhead=0.5,
                  image_seconds_full=0.5, image_seconds_head=0.2, eval_image_seconds=0.05, build_seconds=1.0)


def test_runs_that_finished_before_are_counted_as_reused_not_estimated(finished_home, monkeypatch):
    from dashboard_fixtures import TINY

    import tlcompare
    from tlcompare.estimate.words import counted, figure
    from tlcompare.store import Store

    home, _ = finished_home
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    store = Store()
    same = build_spec(TINY)
    wider = build_spec({**TINY, "sizes": [2, 5, 10]})  # one new size: its 6 runs train, the 12 others are reused
    for spec, reused in ((same, 12), (wider, 12)):
        finished = store.reusable([r.config_hash() for r in spec.runs()])
        est = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9, finished=finished)
        fresh = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9)
        assert est.n_reused == reused and est.n_runs == len(spec.runs())
        assert est.seconds < fresh.seconds
    assert figure(estimate(same, {"efficientnet_lite0": TP}, 10, 40, 60, 9,
                           finished=store.reusable([r.config_hash() for r in same.runs()]))) == "nothing to train"
    est = estimate(wider, {"efficientnet_lite0": TP}, 10, 40, 60, 9,
                   finished=store.reusable([r.config_hash() for r in wider.runs()]))
    assert "12 of 18 runs already finished" in " ".join(counted(est, wider))
    # A run trained by another tlcompare version is not reused: its result may differ.
    con = store._con()
    try:
        con.execute("UPDATE runs SET version = 'older'")
        con.commit()
        assert store.reusable([r.config_hash() for r in same.runs()]) == set()
    finally:
        con.execute("UPDATE runs SET version = ?", (tlcompare.__version__,))
        con.commit()
        store.close()


def test_advice_never_points_at_what_is_already_chosen():
    from tlcompare.estimate.words import advice
    from tlcompare.presets import matching_preset

    quick = PRESETS["cpu_quick"].spec()
    assert matching_preset(quick) == "cpu_quick"
    est = estimate(quick, {"efficientnet_lite0": SLOW}, 10, 40, 60, 9)
    assert est.seconds > 1800  # slow enough for advice
    text = advice(quick, est, matching_preset(quick), gpu=False, busy=None)
    assert "quick preset" not in text and "fewer sizes" in text and "fewer seeds" in text
    photos = PRESETS["photos_500"].spec()
    text = advice(photos, estimate(photos, {"efficientnet_lite0": SLOW}, 10, 40, 60, 9), "photos_500", False, None)
    assert "the quick preset" in text and "fewer seeds" in text and "a smaller image size" in text
    edited = build_spec({**PRESETS["cpu_quick"].values, "budget": "epochs", "epochs": 200})
    assert matching_preset(edited) is None  # changed: the quick preset is worth naming again
    assert advice(quick, est, "cpu_quick", gpu=True, busy=None) is None


def test_a_busy_machine_is_named_as_the_cause():
    from tlcompare.estimate.runtime import machine_busy_note
    from tlcompare.estimate.words import advice

    assert machine_busy_note(0.2, cores=2) is None
    note = machine_busy_note(1.6, cores=2)
    assert "1.6 of this machine's 2 cores" in note and "Measure again" in note
    assert machine_busy_note(1.6, cores=16) is None  # a quarter of 16 cores is 4
    quick = PRESETS["cpu_quick"].spec()
    text = advice(quick, estimate(quick, {"efficientnet_lite0": SLOW}, 10, 40, 60, 9), "cpu_quick", False, note)
    assert text.startswith("Other programs kept 1.6")


@pytest.mark.slow
def test_the_probe_records_how_busy_the_machine_was(one_thread):
    import os
    import subprocess
    import sys

    # Another program keeps a core busy for the whole probe: the probe must see it (its own CPU aside).
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        tp = cached_throughput("small_cnn", 16, 16, "cpu", remeasure=True)
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.3 <= tp.others_busy_cores <= (os.cpu_count() or 1)


def test_under_the_converged_budget_the_estimate_says_it_is_a_minimum():
    from tlcompare.estimate.words import counted, figure

    spec = build_spec(dict(sizes=[5], seeds=1, freeze=["all"], budget="converged", min_steps=12, max_epochs=50))
    est = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9)
    assert est.minimum and figure(est).startswith("at least")
    assert any(line.startswith("A minimum") and "at least 12 optimizer steps" in line and "at most 50" in line
               for line in counted(est, spec))
    plain = build_spec(dict(sizes=[5], seeds=1, freeze=["all"], budget="epochs", epochs=3))
    plain_est = estimate(plain, {"efficientnet_lite0": TP}, 10, 40, 60, 9)
    assert figure(plain_est).startswith("about")
    # 5 per class of 10 classes is 4 optimizer steps an epoch: the 12-step minimum is 3 epochs.
    assert est.seconds == pytest.approx(plain_est.seconds)


# -- the probe in the background ----------------------------------------------------------------------
@pytest.mark.slow
def test_the_probe_runs_in_the_background_once_and_fills_the_cache():
    import time
    from pathlib import Path

    from tlcompare.estimate.background import throughput_or_start
    from tlcompare.worker.procs import pid_alive

    first = throughput_or_start("small_cnn", 16, 16, "cpu")
    assert first.throughput is None and first.failed is None  # answered at once: measuring
    locks = list((cache_dir() / "probes").glob("*.lock"))
    assert len(locks) == 1
    pid = int(locks[0].read_text())
    assert throughput_or_start("small_cnn", 16, 16, "cpu").throughput is None  # the same probe, not a second
    assert len(list((cache_dir() / "probes").glob("*.lock"))) <= 1
    deadline = time.time() + 180
    ready = throughput_or_start("small_cnn", 16, 16, "cpu")
    while time.time() < deadline and ready.throughput is None:
        time.sleep(0.5)
        ready = throughput_or_start("small_cnn", 16, 16, "cpu")
    assert ready.throughput is not None and ready.throughput.model == "small_cnn"
    assert not list((cache_dir() / "probes").glob("*"))  # lock and log removed after success
    while time.time() < deadline and pid_alive(pid):
        time.sleep(0.2)
        throughput_or_start("small_cnn", 16, 16, "cpu")
    assert not Path(f"/proc/{pid}").exists(), "the finished probe was left a zombie"


@pytest.mark.slow
def test_a_failed_background_probe_says_why():
    import time

    from tlcompare.estimate.background import throughput_or_start

    assert throughput_or_start("no_such_model", 16, 16, "cpu").throughput is None
    deadline = time.time() + 120
    state = throughput_or_start("no_such_model", 16, 16, "cpu")
    while time.time() < deadline and state.failed is None:
        time.sleep(0.5)
        state = throughput_or_start("no_such_model", 16, 16, "cpu")
    assert state.failed and "no_such_model" in state.failed
