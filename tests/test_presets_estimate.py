"""Presets, the run-time estimate and its throughput probe, dataset facts and the mistake gallery."""

from __future__ import annotations

import json

import pytest

from tlcompare.dataset_facts import clamp_sizes, dataset_facts
from tlcompare.estimate import Throughput, cached_throughput, estimate, run_seconds
from tlcompare.gallery import display_image, experiment_test_set, mistakes
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


def test_the_cpu_preset_is_small_and_the_default_without_a_gpu():
    assert default_preset(has_gpu=False) == "cpu_quick"
    assert default_preset(has_gpu=True) != "cpu_quick"
    spec = PRESETS["cpu_quick"].spec()
    assert spec.dataset == "digits" and spec.image_size <= 32 and len(spec.runs()) <= 12 and spec.epochs <= 15
    # Every preset, the default included, gives a confidence interval: one seed would not.
    assert all(len(p.spec().seeds) >= 2 for p in PRESETS.values())


def test_estimate_adds_up_runs_epochs_and_evaluation():
    spec = build_spec(dict(sizes=[5], seeds=1, freeze=["all"], budget="epochs", epochs=2, batch_size=64, min_steps_per_epoch=1))
    scratch, probe = spec.runs()
    # 50 images in one batch of 50: per epoch 1 step + evaluating 100 images.
    assert run_seconds(scratch, TP, 10, 100, 9) == pytest.approx(0.5 + 2 * (0.05 + 50 * 0.004 + 100 * 0.0005))
    assert run_seconds(probe, TP, 10, 100, 9) == pytest.approx(0.5 + 2 * (0.05 + 50 * 0.001 + 100 * 0.0005))
    est = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9, worker_running=False)
    assert est.n_runs == 2 and est.startup_seconds > 0
    assert est.seconds == pytest.approx(est.startup_seconds + sum(est.seconds_by_variant.values()))
    assert set(est.seconds_by_variant) == {"scratch", "pretrained, linear probe"}


def test_estimate_counts_one_feature_pass_for_cached_linear_probes():
    spec = build_spec(dict(sizes=[5, 10], seeds=2, freeze=["all"], budget="epochs", epochs=2, augment="none"))
    est = estimate(spec, {"efficientnet_lite0": TP}, 10, 40, 60, 9, worker_running=True, n_images=1000)
    # Four probes: each builds its model, and only the first runs the body, once over 1,000 images.
    assert est.seconds_by_variant["pretrained, linear probe"] == pytest.approx(4 * 0.5 + 1000 * 0.0005)


def test_probe_measures_this_device_and_is_cached(monkeypatch, one_thread):
    first = cached_throughput("small_cnn", 16, 16, "cpu")
    assert first.images_per_second(0.0) > 0 and first.images_per_second(1.0) > 0 and first.eval_image_seconds > 0
    assert first.model == "small_cnn" and first.device.startswith("CPU")
    calls = []
    monkeypatch.setattr("tlcompare.estimate.probe_throughput", lambda *a, **k: calls.append(a))
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
