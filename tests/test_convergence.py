"""Convergence flags, the budget line, the random-features comparison and the timing tables, on
synthetic run records (no training): each number below is worked out by hand."""

import math

import pandas as pd
import pytest

from tlcompare.analysis import frames as analysis
from tlcompare.analysis import verdict
from tlcompare.analysis.controls import control_differences, control_lines
from tlcompare.analysis.convergence import (
    budget_line,
    flag_lines,
    flags_frame,
    flags_summary,
    still_rising,
)
from tlcompare.analysis.view import analyse


def run(arm="scratch", size=5, seed=0, freeze=None, val=(0.5,) * 10, train_acc_clean=0.99, budget="epochs",
        stop_reason="epochs", test_acc=0.5, **extra):
    epochs = [{"epoch": i + 1, "val_acc": v, "train_acc": 0.3} for i, v in enumerate(val)]
    final = {"test_acc": test_acc, "train_acc": 0.3, "train_seconds": 10.0, "images_per_sec": 5.0}
    if train_acc_clean is not None:
        final["train_acc_clean"] = train_acc_clean
    return {"arm": arm, "size": size, "seed": seed, "freeze": freeze, "status": "done", "epochs": epochs,
            "final": final, "budget": budget, "stop_reason": stop_reason, "epochs_done": len(epochs),
            "trainable_params": 10, "total_params": 100, "model": "m", "n_train": 50, **extra}


RISING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.62, 0.66, 0.7]  # still climbing at the end
FLAT = [0.1, 0.5, 0.7, 0.8, 0.8, 0.81, 0.8, 0.8, 0.81, 0.8]


def test_still_rising_looks_at_the_last_fifth_only():
    assert still_rising(RISING)[0]
    flat, rise = still_rising(FLAT)
    assert not flat and abs(rise) < 0.01
    # Rising inside the window but below the earlier best: a recovery, not progress.
    assert not still_rising([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.7, 0.8])[0]
    # Too few epochs to tell.
    assert still_rising([0.1, 0.2, 0.3, 0.4]) == (False, pytest.approx(float("nan"), nan_ok=True))


def test_underfit_uses_clean_training_accuracy_and_says_when_it_falls_back():
    flags = flags_frame([run(seed=0, train_acc_clean=0.35, val=FLAT), run(seed=1, train_acc_clean=0.95, val=FLAT),
                         run(seed=2, train_acc_clean=None, val=FLAT)])
    by_seed = flags.set_index("seed")
    assert by_seed.loc[0, "underfit"] and not by_seed.loc[1, "underfit"]
    # Without the clean measurement the last running accuracy (0.3, augmented) stands in, labelled as such.
    assert by_seed.loc[2, "underfit"] and by_seed.loc[2, "train_acc_source"] == "running"
    (line,) = flag_lines(flags)  # seeds of one variant and size share a line
    assert line.startswith("scratch at 5/class (seeds 0, 2): underfit (training accuracy 35.0%, 30.0%")
    assert "running average of augmented batches" in line and line.endswith("Fix: more epochs, or the budget 'until converged'.")


def test_each_flag_gets_the_fix_its_budget_needs():
    flags = flags_frame([
        run(size=5, val=RISING, budget="epochs"),
        run(size=20, val=RISING, budget="steps", stop_reason="steps"),
        run(size=50, val=RISING, budget="converged", stop_reason="cap"),
        run(size=100, val=FLAT, budget="converged", stop_reason="plateau", train_acc_clean=0.5),
        run(size=200, val=FLAT),
    ]).set_index("size")
    assert flags.loc[5, "flag"] == "still improving" and flags.loc[5, "fix"] == "more epochs, or the budget 'until converged'"
    assert flags.loc[20, "fix"] == "more steps, or the budget 'until converged'"
    assert flags.loc[50, "fix"] == "raise 'At most (epochs)'"
    assert flags.loc[100, "flag"] == "underfit" and "higher learning rate" in flags.loc[100, "fix"]
    assert flags.loc[200, "flag"] == "" and flags.loc[200, "fix"] == ""
    probe = flags_frame([run("pretrained", freeze="all", train_acc_clean=0.8, val=FLAT)]).iloc[0]
    assert probe["fix"] == "more epochs, or the budget 'until converged'; or freeze less"
    assert flags_summary(flags.reset_index()).startswith("Convergence: 1 of 5 runs ended underfit")


def test_no_flags_says_so_and_runs_without_a_budget_read_as_epochs():
    old = run(val=FLAT)
    del old["budget"], old["stop_reason"]
    flags = flags_frame([old, {**run(), "status": "diverged"}])
    assert len(flags) == 1 and flags.iloc[0]["budget"] == "epochs"
    assert flag_lines(flags) == []
    assert flags_summary(flags) == "Convergence: none of 1 runs ended underfit or still improving."


def test_budget_line_names_the_budget_and_how_runs_stopped():
    runs = [run(budget="converged", stop_reason="plateau", val=FLAT), run(budget="converged", stop_reason="cap", val=RISING * 2)]
    line = budget_line(runs)
    assert line.startswith("Budget: converged (train until validation accuracy stops improving)")
    assert "10 to 20 epochs per run" in line and "1 stopped at max_epochs" in line and "1 stopped on a plateau" in line
    mixed = budget_line([run(), run(budget="steps", stop_reason="steps")])
    assert "do not compare" in mixed


def control_runs():
    runs = []
    for seed, (pre, rnd) in enumerate([(0.60, 0.61), (0.62, 0.60), (0.58, 0.60)]):
        runs += [run("scratch", seed=seed, test_acc=0.3), run("pretrained", seed=seed, freeze="all", test_acc=pre),
                 run("random", seed=seed, freeze="all", test_acc=rnd)]
    runs.append(run("pretrained", seed=0, freeze=0, test_acc=0.9))  # no control at depth 0
    return runs


def test_random_features_control_is_compared_at_the_same_depth():
    frame = analysis.runs_frame(control_runs())
    assert "random features, linear probe" in set(frame["variant"])
    diffs = control_differences(frame)
    assert len(diffs) == 1
    r = diffs.iloc[0]
    assert r["variant"] == "pretrained, linear probe" and r["control"] == "random features, linear probe"
    assert r["n_pairs"] == 3 and r["mean_diff"] == pytest.approx((-0.01 + 0.02 - 0.02) / 3)
    (line,) = control_lines(frame)
    assert "within noise of random features, linear probe" in line and "no evidence" in line
    # The controls sit after the pretrained variants in every chart and table.
    assert analysis.variant_order(frame["variant"]) == [
        "scratch", "pretrained, fine-tune all", "pretrained, linear probe", "random features, linear probe"]
    # They are not candidates for "the best pretrained variant".
    judged = verdict.build(frame, {"budget": "epochs"})
    assert "random" not in " ".join([judged.answer, *judged.lines])


def test_a_clear_pretrained_lead_over_random_features_is_called_a_help():
    runs = [run("pretrained", seed=s, freeze="all", test_acc=0.8 + 0.01 * s) for s in range(3)]
    runs += [run("random", seed=s, freeze="all", test_acc=0.4) for s in range(3)]
    (line,) = control_lines(analysis.runs_frame(runs))
    assert "beats random features, linear probe by 41.0 points" in line and "features help" in line


def test_the_view_gathers_budget_flags_and_controls():
    runs = control_runs()
    view = analyse(runs)
    assert view.budget.startswith("Budget: epochs") and view.controls == control_lines(analysis.runs_frame(runs))
    assert view.controls and view.flag_lines == [] and view.flags_summary.startswith("Convergence: none of")


def test_training_time_counts_images_over_seconds_and_one_machine_only():
    runs = [
        run("scratch", seed=0, machine="CPU X (2 threads)", steps_done=100, final_extra=None),
        run("scratch", seed=1, machine="CPU X (2 threads)", steps_done=100),
        run("scratch", seed=2, machine="CPU Y (8 threads)", steps_done=100),  # reused from elsewhere
    ]
    runs[0]["final"].update(train_seconds=10.0, images_per_sec=100.0, seconds_per_step=0.1)  # 1000 images
    runs[1]["final"].update(train_seconds=30.0, images_per_sec=10.0, seconds_per_step=0.3)  # 300 images
    runs[2]["final"].update(train_seconds=1.0, images_per_sec=1000.0, seconds_per_step=0.01)
    table = analysis.training_time(analysis.runs_frame(runs))
    row = table.iloc[0]
    assert row["n_runs"] == 2 and row["total_seconds"] == pytest.approx(40.0)
    assert row["images_per_sec"] == pytest.approx(1300 / 40)  # not the mean of rates (55)
    assert row["seconds_per_step"] == pytest.approx(0.2) and row["steps"] == 200
    assert row["machine"] == "CPU X (2 threads)" and table.attrs["left_out"] == 1


def test_time_to_target_uses_validation_accuracy():
    epochs = pd.DataFrame([
        {"variant": "scratch", "arm": "scratch", "size": 5, "seed": 0, "freeze": "", "epoch": e, "val_acc": v,
         "test_acc": t, "elapsed_train_seconds": 2.0 * e}
        for e, v, t in [(1, 0.5, 0.9), (2, 0.85, 0.9), (3, 0.9, 0.9)]])
    per_run = analysis.time_to_target(epochs, 0.8)
    assert per_run.iloc[0]["epoch"] == 2 and per_run.iloc[0]["seconds"] == 4.0
    assert math.isnan(analysis.time_to_target(epochs, 0.95).iloc[0]["seconds"])


def test_the_verdict_says_provisional_first_until_every_run_finished_learning():
    finished = control_runs()
    settled = analyse(finished)
    assert not settled.verdict.answer.startswith("Provisional")
    # One scratch run ends underfit: the same comparison is now provisional, said before anything else.
    unsettled = [*finished[:-1], {**finished[-1]}]
    unsettled[0] = run("scratch", seed=0, test_acc=0.3, train_acc_clean=0.4)
    view = analyse(unsettled)
    assert view.verdict.answer.startswith("Provisional: 1 of 10 runs did not finish learning (see Convergence). ")
    assert view.verdict.answer.endswith(verdict.build(analysis.runs_frame(unsettled)).answer)
    # Still improving at the end counts as not finished too.
    unsettled[0] = run("scratch", seed=0, test_acc=0.3, val=RISING)
    assert analyse(unsettled).verdict.answer.startswith("Provisional: 1 of 10 runs")


def test_an_epoch_record_without_training_accuracy_reads_as_unknown():
    from tlcompare.analysis.convergence import flags_frame

    run = {"status": "done", "arm": "scratch", "freeze": None, "size": 5, "seed": 0, "final": {"test_acc": 0.5},
           "epochs": [{"epoch": 1, "val_acc": 0.4}, {"epoch": 2, "val_acc": 0.5}]}
    (row,) = flags_frame([run]).to_dict("records")
    assert row["train_acc"] != row["train_acc"] and not row["underfit"]  # NaN: not known, not flagged
    run["epochs"][-1]["train_acc"] = 0.2
    assert flags_frame([run]).iloc[0]["underfit"]
