"""The label multiplier read back from a real store file filled with prescribed accuracies: zero gain is
K = 1 at every size whatever scratch's curve looks like, a known gain gives its K, labels to a target
and the time saved read one machine, on every face that shows them (the JSON report, `show`)."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import store_scale  # noqa: E402  (the benchmark's record of a trained run: every field a real one has)

from tlcompare import cli  # noqa: E402
from tlcompare.spec import build_spec  # noqa: E402
from tlcompare.store import Store  # noqa: E402
from tlcompare.store.correct_bits import pack_correct  # noqa: E402

N_TEST = store_scale.N_TEST
DIGITS = {5: 0.500, 10: 0.652, 20: 0.761, 50: 0.890}  # scratch's means on digits (docs/validation.md): no power law
LOGISTIC = {n: 0.1 + 0.85 / (1 + math.exp(-1.6 * math.log(n / 8))) for n in DIGITS}
SEED_OFFSETS = (-0.01, 0.0, 0.01)


def fill(home: Path, scratch: dict, pretrained: dict, machines: dict | None = None) -> int:
    """An experiment of scratch and fine-tune all at 5/10/20/50 per class, 3 seeds, each run finished
    through the store's own calls with test accuracy ``scratch[size] + offset`` (or ``pretrained``'s)."""
    store = Store(home / "tlcompare.db")
    spec = build_spec({"sizes": sorted(scratch), "seeds": 3, "freeze": [0], "epochs": 3})
    experiment_id = store.create_experiment(spec)
    rng = random.Random(0)
    while (claimed := store.claim("w")) is not None:
        _, result = store_scale._result(claimed, 3, rng)
        table = scratch if claimed["arm"] == "scratch" else pretrained
        acc = table[claimed["size"]] + SEED_OFFSETS[claimed["seed"]]
        right = round(acc * N_TEST)
        correct = np.zeros(N_TEST, dtype=bool)
        correct[:right] = True
        result["final"]["test_acc"] = right / N_TEST
        result["test_correct"] = pack_correct(correct)
        if machines:
            result["machine"] = machines.get((claimed["arm"], claimed["size"]), result["machine"])
        store.finish_run(claimed["run_id"], "w", claimed["attempt"], result)
    store.close()
    return experiment_id


def report_json(home: Path, experiment_id: int, capsys) -> dict:
    assert cli.main(["report", str(experiment_id), "--format", "json", "--out", str(home / "r.json")]) == 0
    capsys.readouterr()
    return json.loads((home / "r.json").read_text())["experiments"][0]


@pytest.mark.parametrize("curve", [DIGITS, LOGISTIC], ids=["digits means", "logistic in log n"])
def test_equal_arms_give_k_exactly_1_at_every_size(tmp_path, monkeypatch, capsys, curve):
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    experiment_id = fill(tmp_path, curve, curve)
    doc = report_json(tmp_path, experiment_id, capsys)
    rows = doc["label_multiplier"]
    assert [r["size"] for r in rows] == [5, 10, 20, 50]
    for r in rows:
        assert r["k"] == 1.0 and r["case"] == "interpolated", r
        assert r["k_low"] == 1.0 and r["k_high"] == 1.0  # seed for seed equal: every resample says 1
    assert cli.main(["show", str(experiment_id)]) == 0
    out = capsys.readouterr().out
    assert "worth about 1.4x" not in out and out.count("pretraining is worth exactly your labels (1x)") == 4


def test_a_known_gain_inside_the_range_gives_its_k(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    # pretrained at 5 per class equals scratch at 20: K = 4 exactly, read off what scratch measured
    pretrained = {5: DIGITS[20], 10: DIGITS[50], 20: DIGITS[50], 50: DIGITS[50] + 0.02}
    experiment_id = fill(tmp_path, DIGITS, pretrained)
    rows = {r["size"]: r for r in report_json(tmp_path, experiment_id, capsys)["label_multiplier"]}
    assert rows[5]["k"] == pytest.approx(4.0, rel=1e-3) and rows[5]["case"] == "interpolated"
    assert rows[10]["k"] == pytest.approx(5.0, rel=1e-3)
    assert rows[20]["k"] == pytest.approx(2.5, rel=1e-3)
    assert rows[50]["case"] in ("extrapolated", "beyond projection") and rows[50]["k"] > 1  # past the largest size
    assert cli.main(["show", str(experiment_id), "--target", "76.1"]) == 0
    out = capsys.readouterr().out
    assert "To reach 76.1 % test accuracy: scratch needs about 20 per class" in out
    assert "fine-tune all needs" in out
    assert cli.main(["show", str(experiment_id), "--target", "-3"]) == 2
    assert "--target -3" in capsys.readouterr().err


def test_time_saved_reads_one_machine_and_the_reported_models_accuracy(tmp_path, monkeypatch, capsys):
    from tlcompare.analysis.view import analyse

    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    # scratch at 50 per class trained elsewhere: its seconds must not stand beside this machine's
    experiment_id = fill(tmp_path, DIGITS, {n: a + 0.05 for n, a in DIGITS.items()}, machines={("scratch", 50): "other"})
    store = Store(tmp_path / "tlcompare.db")
    view = analyse(store.experiment_runs(experiment_id), {}, {})
    store.close()
    times = view.multiplier.times
    assert not times.empty and (times["scratch_size"].dropna() != 50).all()
    summary = view.time_to_target(0.5)
    assert summary.attrs["left_out"] == 3 and 50 not in set(summary.loc[summary["variant"] == "scratch", "size"])
    assert "features_cached" in summary
