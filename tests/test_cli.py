"""The command line as a user runs it: real data, real weights, through the CLI's entry point in this
process (a new interpreter would add a torch import to every call and test nothing more)."""

import io
import json

import pandas as pd
import pytest
from helpers import tlc

from tlcompare.store.correct_bits import unpack_correct


@pytest.mark.slow
def test_tiny_paired_run_writes_json_and_csv(tmp_path, tlcompare_home, capsys, one_thread):
    out = tmp_path / "res.json"
    p = tlc("run", "--dataset", "digits", "--model", "efficientnet_lite0", "--sizes", "2,4", "--freeze", "0,all",
                  "--seeds", "2", "--budget", "epochs", "--epochs", "2", "--image-size", "16", "--device", "cpu", "--out", str(out), home=tlcompare_home,
            capsys=capsys)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    # the report's JSON: one experiment, the file `tlcompare report 1 --format json` writes
    assert doc["format"] == "tlcompare-report" and [e["id"] for e in doc["experiments"]] == [1]
    data = doc["experiments"][0]
    assert data["spec"]["sizes"] == [2, 4] and data["spec"]["freeze"] == [0, "all"]
    assert data["environment"]["wall_seconds"] > 0
    runs = data["runs"]
    assert len(runs) == 2 * 2 * 3
    assert {(r["arm"], r["freeze"]) for r in runs} == {("scratch", None), ("pretrained", 0), ("pretrained", "all")}
    for r in runs:
        assert r["status"] == "done" and len(r["epochs"]) == 2
        assert set(r["final"]) >= {"test_acc", "val_acc", "train_seconds"}
    # the arms of each (size, seed) trained on the same images
    for size in (2, 4):
        for seed in (0, 1):
            assert len({r["subset_hash"] for r in runs if r["size"] == size and r["seed"] == seed}) == 1
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert len(csv) == len(runs) * 2
    assert csv["val_acc"].tolist() == [e["val_acc"] for r in runs for e in r["epochs"]]
    assert csv["final_test_acc"].tolist() == [r["final"]["test_acc"] for r in runs for _ in r["epochs"]]
    assert "Paired difference vs scratch" in p.stdout and "images per class" in p.stdout
    # each run kept which test images it got right, and the summary tests the gap over them
    for r in runs:
        bits = unpack_correct(r["test_correct"])
        assert bits is not None and len(bits) == data["environment"]["n_test"]
        assert bits.mean() == pytest.approx(r["final"]["test_acc"])
    assert "test-set p" in p.stdout and "McNemar p per seed" in p.stdout
    assert f"({data['environment']['n_test']} images)" in p.stdout and "test set p" in p.stdout
    assert "Budget: equal epochs for both arms of every pair (2 per run)." in p.stdout
    assert "Test-set test unavailable" not in p.stdout
    shown = tlc("show", "1", home=tlcompare_home, capsys=capsys)
    assert shown.returncode == 0 and "test-set p" in shown.stdout and "test set p" in shown.stdout
    reported = tlc("report", "1", "--format", "json", "--out", "-", home=tlcompare_home, capsys=capsys)
    assert reported.returncode == 0, reported.stderr
    (again,) = json.loads(reported.stdout)["experiments"]
    assert again["runs"] == runs and again["label_multiplier"] == data["label_multiplier"]
    assert again["environment"] == {k: v for k, v in data["environment"].items() if k != "wall_seconds"}
    assert pd.read_csv(out.with_suffix(".csv")).equals(pd.read_csv(io.StringIO(
        tlc("report", "1", "--format", "csv", "--out", "-", home=tlcompare_home, capsys=capsys).stdout)))
    # the label multiplier: in the summary, in the JSON (recomputed from its runs) and on every CSV row of its pair
    from tlcompare.analysis import frames as analysis
    from tlcompare.analysis import label_multiplier

    expected = label_multiplier.build(analysis.runs_frame(runs), analysis.epochs_frame(runs))
    assert len(expected.lines) == 4 and "Label multiplier (images per class scratch needs" in p.stdout
    for line in expected.lines + expected.time_lines:
        assert line in p.stdout and line in shown.stdout
    assert [(r["variant"], r["size"], r["case"]) for r in data["label_multiplier"]] == \
        [(r["variant"], r["size"], r["case"]) for _, r in expected.table.iterrows()]
    pre = csv[csv["arm"] == "pretrained"]
    assert pre["label_multiplier_case"].notna().all() and csv.loc[csv["arm"] == "scratch", "label_multiplier_case"].isna().all()


def test_invalid_values_get_one_line_each_and_exit_2(tlcompare_home, capsys):
    p = tlc("run", "--dataset", "nope", "--sizes", "5,x", "--freeze", "top", "--epochs", "0", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("tlcompare: error: ") for line in lines)
    assert "Traceback" not in p.stderr


def test_absurd_settings_exit_2_and_doubtful_ones_warn(tlcompare_home, capsys):
    p = tlc("submit", "--weight-decay", "9", "--label-smoothing", "0.9", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "weight_decay: 9 would shrink the weights" in p.stderr and "label_smoothing: 0.9" in p.stderr
    p = tlc("submit", "--lr-scratch", "10", "--sizes", "5", "--seeds", "1", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 0, p.stderr
    assert "warning: lr_scratch: 10 is far above what adamw trains with" in p.stderr


def test_size_too_large_names_the_class(tlcompare_home, capsys):
    p = tlc("run", "--sizes", "500", "--seeds", "1", "--budget", "epochs", "--epochs", "1", "--image-size", "16", "--device", "cpu", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "size 500 per class is more than class" in p.stderr


def test_missing_checkpoint_and_config_are_clear(tmp_path, tlcompare_home, capsys):
    p = tlc("run", "--weights", str(tmp_path / "missing.pt"), home=tlcompare_home, capsys=capsys)
    assert p.returncode == 2 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    bad = tmp_path / "exp.toml"
    bad.write_text("sizes = [5, \n")
    p = tlc("run", "--config", str(bad), home=tlcompare_home, capsys=capsys)
    assert p.returncode == 2 and "not valid TOML" in p.stderr


def test_listings_say_what_is_available_offline(tlcompare_home, capsys):
    p = tlc("datasets", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 0
    assert "digits" in p.stdout and "non-commercial" in p.stdout
    p = tlc("models", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 0
    line = next(line for line in p.stdout.splitlines() if line.startswith("efficientnet_lite0"))
    assert "stem" in line
    assert "pretrained weights available offline" in p.stdout


def test_resume_requeues_cancelled_runs_or_says_there_are_none(tlcompare_home, capsys):
    from tlcompare.store import Store

    submitted = tlc("submit", "--dataset", "digits", "--sizes", "2", "--freeze", "all", "--seeds", "1",
                          "--budget", "epochs", "--epochs", "1", "--image-size", "16", "--device", "cpu", home=tlcompare_home, capsys=capsys)
    assert submitted.returncode == 0, submitted.stderr
    exp_id = int(submitted.stdout.strip())
    nothing = tlc("resume", str(exp_id), home=tlcompare_home, capsys=capsys)
    assert nothing.returncode == 2 and nothing.stderr.strip() == (
        f"tlcompare: error: experiment {exp_id} has no cancelled runs to resume (see `tlcompare show {exp_id}`)")
    assert tlc("cancel", str(exp_id), home=tlcompare_home, capsys=capsys).returncode == 0
    assert Store().get_experiment(exp_id)["status"] == "cancelled"
    shown = tlc("show", str(exp_id), home=tlcompare_home, capsys=capsys).stdout
    assert f"`tlcompare resume {exp_id}` queues the cancelled runs again" in shown
    listed = tlc("ls", home=tlcompare_home, capsys=capsys).stdout.splitlines()[1].split()
    assert "cancelled" in listed and "0/2" in listed  # nothing finished, though nothing is left to run
    resumed = tlc("resume", str(exp_id), home=tlcompare_home, capsys=capsys)
    assert resumed.returncode == 0, resumed.stderr
    assert f"experiment {exp_id}: 2 cancelled run(s) queued again" in resumed.stderr
    assert {r["status"] for r in Store().experiment_runs(exp_id)} == {"queued"}
    missing = tlc("resume", "999", home=tlcompare_home, capsys=capsys)
    assert missing.returncode == 2 and "no experiment 999" in missing.stderr and "Traceback" not in missing.stderr
