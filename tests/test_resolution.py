"""Resolution as an axis: image_size = [32, 96] is one experiment per resolution, paired on subsets and seeds."""

from __future__ import annotations

import pytest
import torch

from tlcompare.analysis.view import analyse
from tlcompare.errors import SpecError
from tlcompare.spec import build_spec, resolution_notes, spec_from_dict
from tlcompare.store import Store

BASE = dict(dataset="digits", sizes=[5, 10], seeds=[0, 1], freeze=[0, "all"], budget="epochs", epochs=1)


def test_a_list_of_sizes_is_a_sweep_of_one_experiment_per_resolution():
    sweep = build_spec({**BASE, "image_size": [96, 32, 32]})
    assert sweep.image_sizes == (32, 96) and sweep.image_size == 32
    children = sweep.by_resolution()
    assert [(c.image_size, c.image_sizes, c.name) for c in children] == [
        (32, (32,), "digits / efficientnet_lite0 · 32 px"), (96, (96,), "digits / efficientnet_lite0 · 96 px")]
    assert children[0].by_resolution() == [children[0]]  # a resolution of a sweep is not a sweep again
    assert spec_from_dict(children[1].to_dict()) == children[1]
    runs = sweep.runs()
    assert len(runs) == 2 * len(children[0].runs()) == 2 * 2 * 2 * 3
    # Paired across arms at each resolution, and across resolutions: the same size, seed and arms,
    # only the resolution (part of each run's config, so of its hash) differs.
    keys = {res: [(r.arm, r.size, r.seed, r.freeze) for r in runs if r.experiment.image_size == res] for res in (32, 96)}
    assert keys[32] == keys[96]
    assert {r.config()["image_size"] for r in runs} == {32, 96} and len({r.config_hash() for r in runs}) == len(runs)
    # A single resolution given as a list is no sweep; the resolution of a run keeps its old hash.
    one = build_spec({**BASE, "image_size": [32]})
    assert one.image_sizes == () and one.image_size == 32
    assert [r.config_hash() for r in one.runs()] == [r.config_hash() for r in children[0].runs()]
    with pytest.raises(SpecError, match="image_size: 4 must be between 8 and 1024 pixels"):
        build_spec({**BASE, "image_size": [4, 32]})


def test_the_training_subsets_are_the_same_at_every_resolution():
    from tlcompare.train import prepare

    small, large = build_spec({**BASE, "image_size": [16, 48]}).by_resolution()
    a, b = prepare(small, torch.device("cpu")), prepare(large, torch.device("cpu"))
    assert a.images.shape[-1] == 16 and b.images.shape[-1] == 48
    for size, seed in ((5, 0), (10, 1)):
        for validation in ("within", "held_out"):
            assert torch.equal(a.train_indices(size, seed, validation), b.train_indices(size, seed, validation))
    assert torch.equal(a.splits.test, b.splits.test) and torch.equal(a.splits.val, b.splits.val)


def test_the_store_takes_one_resolution_per_experiment(tmp_path):
    store = Store(tmp_path / "t.db")
    sweep = build_spec({**BASE, "image_size": [32, 64]})
    with pytest.raises(ValueError, match="one experiment per resolution"):
        store.create_experiment(sweep)
    ids = [store.create_experiment(one) for one in sweep.by_resolution()]
    assert [store.get_experiment(i)["spec"]["image_size"] for i in ids] == [32, 64]
    # What a worker trains is the stored spec of the run's own experiment: its resolution.
    claimed = store.claim("w", experiment_id=ids[1])
    assert claimed["run"].experiment.image_size == 64 and claimed["run"].config_hash() == claimed["config_hash"]
    store.close()


def test_low_resolutions_with_imagenet_weights_get_a_note():
    (note,) = resolution_notes(build_spec({**BASE, "image_size": [32, 96]}))
    assert note.startswith("image_size: at 32 px the ImageNet-pretrained features are far from their training "
                           "resolution (224 px)")
    assert resolution_notes(build_spec({**BASE, "image_size": 64})) == []
    assert resolution_notes(build_spec({**BASE, "image_size": [16, 32]}))[0].startswith("image_size: at 16 px and 32 px")


def test_the_verdict_of_one_resolution_of_a_sweep_names_it():
    runs = [{"arm": arm, "size": 5, "seed": s, "freeze": freeze, "status": "done", "model": "m", "lr": 1e-3,
             "final": {"test_acc": acc + 0.01 * s, "val_acc": 0.5, "train_acc_clean": 1.0, "train_seconds": 1.0},
             "epochs": [{"epoch": 1, "val_acc": 0.5}], "n_train": 50, "budget": "epochs", "stop_reason": "epochs",
             "trainable_params": 1, "total_params": 1}
            for arm, freeze, acc in (("scratch", None, 0.5), ("pretrained", 0, 0.8)) for s in range(3)]
    named = analyse(runs, {"budget": "epochs", "image_size": 32, "image_sizes": [32]}).verdict.answer
    plain = analyse(runs, {"budget": "epochs", "image_size": 32}).verdict.answer
    assert named == f"At 32 px: {plain}" and not plain.startswith("At ")


def test_the_cli_flag_takes_a_list():
    import argparse

    from tlcompare.cli import _add_spec_flags, spec_from_args

    parser = argparse.ArgumentParser()
    _add_spec_flags(parser)
    assert spec_from_args(parser.parse_args(["--image-size", "32,96", "--sizes", "5"])).image_sizes == (32, 96)
    assert spec_from_args(parser.parse_args(["--image-size", "64", "--sizes", "5"])).image_size == 64


def test_every_chart_names_its_resolution_once_however_often_it_is_drawn():
    from tlcompare.charts import figures as charts

    fig = charts.data_efficiency(analyse(_sweep_runs(), {"budget": "epochs", "image_size": 32}).summary)
    title = fig.layout.title.text
    charts.at_resolution(fig, 32)
    charts.at_resolution(fig, 32)  # the page draws a cached figure again on every rerun
    assert fig.layout.title.text in (f"{title} · 32 px images", f"{title}<br>32 px images")
    unnamed = charts.data_efficiency(analyse(_sweep_runs(), {"budget": "epochs"}).summary)
    assert charts.at_resolution(unnamed, None).layout.title.text == title  # a spec without one: unchanged
    # A title that would run past the chart's width: the resolution on a line of its own, never cut off.
    long = charts.data_efficiency(analyse(_sweep_runs(), {"budget": "epochs"}).summary)
    long.update_layout(title_text="Gain over training from scratch (pretrained minus scratch) · 1 seed: no interval")
    top = long.layout.margin.t
    charts.at_resolution(charts.at_resolution(long, 16), 16)
    assert long.layout.title.text.endswith("no interval<br>16 px images") and long.layout.margin.t > top


def _sweep_runs() -> list[dict]:
    return [{"arm": arm, "size": size, "seed": s, "freeze": freeze, "status": "done", "model": "m", "lr": 1e-3,
             "final": {"test_acc": acc + 0.01 * s + 0.001 * size, "val_acc": 0.5, "train_acc_clean": 1.0,
                       "train_seconds": 1.0},
             "epochs": [{"epoch": 1, "val_acc": 0.5}], "n_train": 10 * size, "budget": "epochs", "stop_reason": "epochs",
             "trainable_params": 1, "total_params": 1}
            for arm, freeze, acc in (("scratch", None, 0.5), ("pretrained", 0, 0.8)) for s in range(3) for size in (5, 10)]


def test_submit_of_a_sweep_says_each_resolutions_counts(tlcompare_home, capsys):
    """One resolution reused whole, the other queued: both are said, and the missing worker is named."""
    import random
    import sys
    from pathlib import Path

    from tlcompare.cli import main

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import store_scale  # the benchmark's record of a trained run

    flags = ["submit", "--sizes", "2", "--seeds", "1", "--freeze", "all", "--budget", "epochs", "--epochs", "1"]
    assert main([*flags, "--image-size", "24"]) == 0
    store = Store()
    while (claimed := store.claim("w")) is not None:  # the 24 px runs finish, so the sweep reuses them
        store.finish_run(claimed["run_id"], "w", claimed["attempt"], store_scale._result(claimed, 1, random.Random(0))[1])
    capsys.readouterr()
    assert main([*flags, "--image-size", "16,24"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["2", "3"]
    assert "experiment 2: 2 runs, 0 reused from earlier results, 2 queued" in err  # 16 px: new
    assert "experiment 3: 2 runs, 2 reused from earlier results, 0 queued" in err  # 24 px: all reused
    assert "no worker is running" in err
    store.close()
