"""The benchmarks measure the product, not a copy of it: tiny CPU versions of each, checked against
the normal path. No timing is asserted; speed figures live in docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from helpers import tlc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import sweep  # noqa: E402
import throughput  # noqa: E402
import validate  # noqa: E402

pytestmark = pytest.mark.slow  # every test here trains

TINY = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 16, "sizes": [3, 6], "freeze": ["all"], "seeds": 1,
        "budget": "epochs", "epochs": 2, "device": "cpu"}


def test_throughput_measures_both_loops_on_the_same_model(one_thread):
    ours = throughput.tlcompare_images_per_sec("efficientnet_lite0", 16, True, torch.device("cpu"), n_per_class=20, batch=16,
                                               epochs=3)
    base = throughput.baseline_images_per_sec("efficientnet_lite0", 16, True, torch.device("cpu"), n_images=160, batch=16,
                                              workers=0, steps=3)
    assert ours > 0 and base > 0


def test_sweep_trains_what_tlcompare_run_trains(tmp_path, one_thread, capsys):
    out = sweep.run_sweep(dict(TINY), with_estimate=True)
    assert out["runs"] == 4 and out["wall_seconds"] > 0 and out["estimated_seconds"] > 0
    bench = {(r["arm"], r["size"]): r["test_acc"] for _, r in out["frame"].iterrows()}

    # `tlcompare run` in this process, on the same one thread (one_thread) as the sweep
    r = tlc("run", "--dataset", "digits", "--model", "efficientnet_lite0", "--image-size", "16", "--sizes", "3,6",
            "--freeze", "all", "--seeds", "1", "--budget", "epochs", "--epochs", "2", "--device", "cpu",
            "--out", tmp_path / "r.json", capsys=capsys)
    assert r.returncode == 0, r.stderr
    (experiment,) = json.loads((tmp_path / "r.json").read_text())["experiments"]
    runs = experiment["runs"]
    product = {(r["arm"], r["size"]): r["final"]["test_acc"] for r in runs}
    assert product.keys() == bench.keys()
    for key, acc in product.items():  # the CPU path is deterministic for a seed
        assert bench[key] == pytest.approx(acc, abs=1e-9), key


def test_validation_suite_trains_reports_and_rereads_its_runs(tmp_path, one_thread, capsys):
    runs, md = tmp_path / "runs.jsonl", tmp_path / "validation.md"
    assert validate.main(["--dry", "--device", "cpu", "--runs", str(runs), "--out", str(md)]) == 0
    text = md.read_text()
    assert len(runs.read_text().splitlines()) == 2 * 2 * 3  # sizes x seeds x arms, one line each
    for heading in ("Test accuracy (%)", "Gain over scratch", "Literature shapes:"):
        assert heading in text
    assert "Label multiplier (K = n*/N" in text or "No label multiplier" in text
    checks = [line for line in text.splitlines() if line.startswith("| ") and line.endswith(" |")
              and any(w in line for w in ("| holds |", "| does not hold |", "| not judged |"))]
    assert len(checks) == 4
    capsys.readouterr()
    assert validate.main(["--from-runs", str(runs)]) == 0
    assert capsys.readouterr().out.strip() == text.strip()  # the tables come from the saved runs alone


@pytest.mark.slow
def test_validation_suite_takes_tuned_rates_within_validation_and_a_resolution_sweep(tmp_path, one_thread, capsys):
    runs = tmp_path / "runs.jsonl"
    values = {"tune": "lr", "lr_grid": 2, "validation": "within", "image_size": [8, 16], "seeds": [0],
              "freeze": ["all"]}
    assert validate.main(["--dry", "--device", "cpu", "--runs", str(runs), "--values", json.dumps(values)]) == 0
    text = capsys.readouterr().out
    records = [json.loads(line) for line in runs.read_text().splitlines()]
    # 2 sizes x 1 seed x 2 arms x 2 rates x 2 resolutions, each trained at its own resolution
    assert len(records) == 16 and sorted({r["image_size"] for r in records}) == [8, 16]
    assert {r["validation"] for r in records} == {"within"} and {r["n_val"] for r in records} == {10}
    assert "### 8 px" in text and "### 16 px" in text
    assert text.count("Learning rates chosen on validation") == 2 and "best of 2 on validation" in text
    assert "Validation: within; validation images per run: 10 at 3/class, 10 at 6/class" in text


def test_plain_train_accuracy_benchmark_runs_with_and_without_the_pass(one_thread):
    import plain_train_accuracy

    rows = plain_train_accuracy.measure(size=2, image_size=16, epochs=1, repeats=1, device="cpu")
    assert [r["plain_pass"] for r in rows] == [True, False] and all(r["n_train"] == 20 for r in rows)
    assert all(r["eval_s"] > 0 and r["train_s"] > 0 for r in rows)
    from tlcompare import evaluation_plan

    assert evaluation_plan.PLAIN_TRAIN_SAMPLE == 1000  # put back for the runs after it
