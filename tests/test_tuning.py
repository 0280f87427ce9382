"""tune = "lr": a grid of learning rates per arm and size; the best on validation is the result."""

from __future__ import annotations

import pytest

from tlcompare.analysis.tuning import choose, rate_text
from tlcompare.analysis.view import analyse
from tlcompare.errors import SpecError
from tlcompare.spec import build_spec


def run(arm, size, seed, lr, val, test, freeze=None, status="done"):
    return {"arm": arm, "size": size, "seed": seed, "freeze": freeze, "lr": lr, "status": status, "model": "m",
            "final": {"val_acc": val, "test_acc": test, "train_acc": 1.0, "train_acc_clean": 1.0,
                      "train_seconds": 1.0, "images_per_sec": 1.0},
            "epochs": [{"epoch": 1, "val_acc": val, "train_acc": 1.0}], "n_train": 50, "budget": "epochs",
            "stop_reason": "epochs", "epochs_done": 1, "trainable_params": 1, "total_params": 1}


def grid(arm, size, scores, freeze=None, seeds=(0, 1)):
    """``scores``: {lr: (val, test)}; the same for every seed but for a small seed offset."""
    return [run(arm, size, s, lr, val + 0.001 * s, test + 0.001 * s, freeze)
            for lr, (val, test) in scores.items() for s in seeds]


def test_the_choice_reads_validation_only_where_test_and_validation_disagree():
    # At 1e-3 validation is best but test is worst; at 1e-2 the opposite.
    runs = grid("scratch", 5, {3e-4: (0.60, 0.60), 1e-3: (0.80, 0.40), 3e-3: (0.70, 0.70), 1e-2: (0.50, 0.95)})
    tuned = choose(runs)
    (choice,) = tuned.choices
    assert choice.lr == 1e-3 and choice.rates == (3e-4, 1e-3, 3e-3, 1e-2) and choice.n_seeds == 2
    assert {r["lr"] for r in tuned.runs} == {1e-3} and len(tuned.runs) == 2
    assert choice.sentence() == "scratch at 5/class: lr 1e-3, best of 4 on validation"
    # Any change to the test accuracies leaves the choice alone; a change to validation moves it.
    for r in runs:
        r["final"]["test_acc"] = 1.0 - r["final"]["test_acc"]
    assert choose(runs).choices[0].lr == 1e-3
    for r in runs:
        if r["lr"] == 3e-3:
            r["final"]["val_acc"] = 0.9
    assert choose(runs).choices[0].lr == 3e-3


def test_each_arm_and_size_gets_its_own_rate_and_the_view_compares_only_those():
    runs = (grid("scratch", 5, {1e-3: (0.5, 0.5), 3e-3: (0.6, 0.55)})
            + grid("pretrained", 5, {1e-4: (0.9, 0.85), 3e-4: (0.7, 0.9)}, freeze=0)
            + grid("scratch", 20, {1e-3: (0.8, 0.8), 3e-3: (0.7, 0.7)})
            + grid("pretrained", 20, {1e-4: (0.8, 0.8), 3e-4: (0.85, 0.82)}, freeze=0))
    view = analyse(runs, {"budget": "epochs", "tune": "lr"})
    lines = view.tuning.lines()
    assert lines == ["scratch at 5/class: lr 3e-3, best of 2 on validation",
                     "pretrained, fine-tune all at 5/class: lr 1e-4, best of 2 on validation",
                     "scratch at 20/class: lr 1e-3, best of 2 on validation",
                     "pretrained, fine-tune all at 20/class: lr 3e-4, best of 2 on validation"]
    # The verdict pairs the chosen runs: at 5/class 0.85 - 0.55 = +30 points (the test of the chosen rates).
    diffs = view.diffs.set_index("size")
    assert diffs.loc[5, "mean_diff"] == pytest.approx(0.30) and diffs.loc[20, "mean_diff"] == pytest.approx(0.02)
    assert len(view.frame) == 8 and len(view.runs) == 16
    assert any(c.startswith("Learning rates chosen on validation (test accuracy plays no part): scratch at 5/class")
               for c in view.verdict.caveats)


def test_a_best_rate_at_the_edge_of_the_grid_is_warned():
    runs = grid("scratch", 5, {1e-3: (0.5, 0.5), 2e-3: (0.6, 0.6), 4e-3: (0.7, 0.7), 8e-3: (0.8, 0.8)})
    tuned = choose(runs)
    assert tuned.choices[0].at_edge
    assert tuned.lines() == ["scratch at 5/class: lr 8e-3, best of 4 on validation "
                             "(the grid's highest rate: a higher one may be better)"]
    assert "1 of 1 chosen rates sit at an edge of their grid" in tuned.summary()
    middle = grid("scratch", 5, {1e-3: (0.5, 0.5), 2e-3: (0.9, 0.6), 4e-3: (0.7, 0.7), 8e-3: (0.8, 0.8)})
    assert not choose(middle).choices[0].at_edge and "edge" not in choose(middle).summary()


def test_unfinished_and_diverged_rates_cannot_win_and_an_untuned_experiment_is_left_alone():
    runs = grid("scratch", 5, {1e-3: (0.5, 0.5), 1e-2: (0.9, 0.9)})
    for r in runs:
        if r["lr"] == 1e-2:
            r["status"], r["final"] = "diverged", {}
    assert choose(runs).choices[0].lr == 1e-3
    queued = [{**r, "status": "queued", "final": {}} for r in runs]
    pending = choose(queued)
    assert pending.choices == [] and {r["lr"] for r in pending.runs} == {1e-3}  # places kept, not chosen yet
    plain = grid("scratch", 5, {2e-3: (0.5, 0.5)}) + grid("pretrained", 5, {5e-4: (0.6, 0.6)}, freeze="all")
    untuned = choose(plain)
    assert untuned.runs == plain and not untuned.tuned and untuned.summary() == ""


def test_the_grid_is_four_rates_over_30x_around_each_arms_rate_and_every_arm_gets_one():
    spec = build_spec(dict(sizes=[5, 20], seeds=[0, 1], freeze=[0, "all"], random_control=True, small_cnn=True,
                           tune="lr"))
    assert spec.lr_rates("scratch") == (0.00037, 0.0011, 0.0035, 0.011)
    assert spec.lr_rates("pretrained") == (9.1e-05, 0.00028, 0.00088, 0.0027)
    lo, hi = spec.lr_rates("scratch")[0], spec.lr_rates("scratch")[-1]
    assert hi / lo == pytest.approx(30, rel=0.02) and (lo * hi) ** 0.5 == pytest.approx(2e-3, rel=0.02)
    runs = spec.runs()
    # scratch, fine-tune all, linear probe, the probe's random control, the small CNN: 5 arms x 4 rates
    assert len(runs) == 2 * 2 * 5 * 4
    assert len({r.config_hash() for r in runs}) == len(runs)
    first = [(r.arm, r.freeze, r.lr) for r in runs[:4]]
    assert first == [("scratch", None, lr) for lr in spec.lr_rates("scratch")]
    assert runs[0].label() == "scratch · 5 per class · seed 0 · lr 0.00037"
    # A grid run trains exactly what an untuned run at that rate trains: its result is reused.
    same = build_spec(dict(sizes=[5], seeds=[0], freeze=[0], lr_scratch=0.0011)).runs()[0]
    assert same.config_hash() == next(r for r in runs if r.arm == "scratch" and r.lr == 0.0011).config_hash()
    with pytest.raises(SpecError, match="tune: unknown 'yes'"):
        build_spec({"tune": "yes"})
    with pytest.raises(SpecError, match="lr_grid: 1 rates; use 2 to 12"):
        build_spec({"tune": "lr", "lr_grid": 1})


def test_rates_are_written_short():
    assert [rate_text(x) for x in (0.0035, 0.00037, 0.011, 0.1, 0.5, 9.1e-05, 1e-3)] == \
        ["3.5e-3", "3.7e-4", "1.1e-2", "0.1", "0.5", "9.1e-5", "1e-3"]


def test_a_worker_trains_the_stored_rate_of_each_grid_run(tmp_path):
    from tlcompare.store import Store

    store = Store(tmp_path / "t.db")
    spec = build_spec(dict(sizes=[5], seeds=[0], freeze=["all"], tune="lr", budget="epochs", epochs=1))
    exp = store.create_experiment(spec)
    claimed = [store.claim("w", experiment_id=exp) for _ in range(8)]
    assert [c["run"].lr for c in claimed] == [*spec.lr_rates("scratch"), *spec.lr_rates("pretrained")]
    assert all(c["run"].config_hash() == c["config_hash"] for c in claimed)
    assert claimed[0]["label"] == "scratch · 5 per class · seed 0 · lr 0.00037"
    store.close()


def test_the_estimate_counts_every_rate_of_the_grid_and_each_resolution_at_its_own_speed():
    from dataclasses import replace

    from tlcompare.estimate.runtime import Throughput, estimate

    tp = Throughput(device="test", model="efficientnet_lite0", image_size=32, batch_size=64, step_overhead=0.05,
                    image_seconds_full=0.004, image_seconds_head=0.001, eval_image_seconds=0.0005, build_seconds=0.5)
    base = dict(sizes=[5, 20], seeds=[0, 1], freeze=[0], budget="epochs", epochs=3)
    plain = estimate(build_spec(base), {"efficientnet_lite0": tp}, 10, 40, 60, 9)
    tuned = estimate(build_spec({**base, "tune": "lr"}), {"efficientnet_lite0": tp}, 10, 40, 60, 9)
    assert tuned.n_runs == 4 * plain.n_runs
    assert tuned.seconds - tuned.startup_seconds == pytest.approx(4 * (plain.seconds - plain.startup_seconds))
    # A sweep: the 96 px runs at the 96 px probe's speed (here three times slower per image).
    slow = replace(tp, image_size=96, image_seconds_full=0.012, image_seconds_head=0.003, eval_image_seconds=0.0015)
    sweep = estimate(build_spec({**base, "image_size": [32, 96]}),
                     {("efficientnet_lite0", 32): tp, ("efficientnet_lite0", 96): slow}, 10, 40, 60, 9)
    at96 = estimate(build_spec({**base, "image_size": 96}), {"efficientnet_lite0": slow}, 10, 40, 60, 9)
    assert sweep.n_runs == 2 * plain.n_runs
    assert sweep.seconds - sweep.startup_seconds == pytest.approx(
        plain.seconds - plain.startup_seconds + at96.seconds - at96.startup_seconds)


def test_a_tie_on_validation_says_so_instead_of_warning_about_the_edge():
    runs = grid("scratch", 5, {1e-3: (0.1, 0.1), 2e-3: (0.1, 0.3), 4e-3: (0.1, 0.2), 8e-3: (0.1, 0.1)})
    (choice,) = choose(runs).choices
    assert choice.lr == 1e-3 and choice.tied == 4 and not choice.at_edge
    assert choice.sentence().endswith("best of 4 on validation (all 4 rates tie: validation cannot choose; "
                                      "the lowest is kept)")
    two = grid("scratch", 5, {1e-3: (0.5, 0.1), 2e-3: (0.5, 0.3), 4e-3: (0.2, 0.2), 8e-3: (0.1, 0.1)})
    assert choose(two).choices[0].sentence().endswith("(tied with 1 other rate; the lowest is kept)")


def test_an_untuned_verdict_names_each_arms_one_rate_and_a_tuned_one_its_choices():
    untuned = [run("scratch", 5, s, 2e-3, 0.5, 0.5 + 0.01 * s) for s in range(3)] + [
        run("pretrained", 5, s, 5e-4, 0.7, 0.7 + 0.02 * s, freeze=f) for s in range(3) for f in (0, "all")]
    caveats = analyse(untuned, {"budget": "epochs"}).verdict.caveats
    assert ("Learning rates not tuned: each arm trained at one rate (scratch at 2e-3; fine-tune all and linear "
            "probe at 5e-4), so part of a gap may be the rate rather than the pretraining.") in " ".join(caveats)
    tuned = grid("scratch", 5, {1e-3: (0.5, 0.5), 3e-3: (0.6, 0.6)}) + grid(
        "pretrained", 5, {3e-4: (0.7, 0.7), 1e-3: (0.8, 0.8)}, freeze=0)
    said = " ".join(analyse(tuned, {"budget": "epochs", "tune": "lr"}).verdict.caveats)
    assert "not tuned" not in said and "Learning rates chosen on validation" in said


def test_the_presets_that_take_a_gpu_tune_their_rates_and_the_quick_one_says_why_not():
    from tlcompare.presets import PRESETS

    assert {key: p.spec().tune for key, p in PRESETS.items()} == {
        "cpu_quick": "none", "photos_500": "lr", "elpv_scans": "lr"}


def test_tuning_at_the_ends_only_is_measured_against_each_sizes_own_choice():
    from tlcompare.analysis.tuning import ends_agreement, ends_summary

    rates = (1e-3, 3e-3, 1e-2)

    def scores(best):  # validation accuracy peaks at ``best``; test says nothing about the choice
        return {lr: (0.9 if lr == best else 0.6, 0.5) for lr in rates}

    runs = (grid("scratch", 5, scores(1e-2)) + grid("scratch", 10, scores(3e-3)) + grid("scratch", 20, scores(1e-3))
            + grid("pretrained", 5, scores(1e-3), freeze=0) + grid("pretrained", 10, scores(1e-2), freeze=0)
            + grid("pretrained", 20, scores(1e-3), freeze=0))
    rows = ends_agreement(choose(runs))
    assert [(r["variant"], r["size"], r["nearest"], r["chosen"], r["agree"]) for r in rows] == [
        ("scratch", 10, 3e-3, 3e-3, True),  # between 1e-2 at 5 and 1e-3 at 20: 3.2e-3 in log size, nearest 3e-3
        ("pretrained, fine-tune all", 10, 1e-3, 1e-2, False)]
    assert rows[0]["interpolated"] == pytest.approx(1e-2 ** 0.5 * 1e-3 ** 0.5)
    assert ends_summary(rows) == ("Tuning at the smallest and largest size only (the rate interpolated in log size "
                                  "between their choices, the nearest grid rate) would pick the per-size choice at "
                                  "1 of 2 middle sizes; not at pretrained, fine-tune all at 10/class: 1e-3 instead "
                                  "of 1e-2.")
    two_sizes = [r for r in runs if r["size"] != 10]
    assert ends_agreement(choose(two_sizes)) == [] and ends_summary([]) == ""


def test_the_markdown_report_says_the_chosen_rates_and_the_validation_images():
    from tlcompare.report.content import ExperimentReport
    from tlcompare.report.tables import to_markdown

    runs = (grid("scratch", 5, {1e-3: (0.5, 0.5), 2e-3: (0.6, 0.6), 4e-3: (0.7, 0.7), 8e-3: (0.8, 0.8)})
            + grid("pretrained", 5, {1e-4: (0.7, 0.7), 3e-4: (0.9, 0.9), 1e-3: (0.8, 0.8)}, freeze=0))
    for i, r in enumerate(runs):
        r["run_id"], r["n_train"] = i + 1, 40
    spec = {**build_spec({"sizes": [5], "freeze": [0], "tune": "lr", "validation": "within"}).to_dict(),
            "budget": "epochs"}
    md = to_markdown([ExperimentReport(id=1, name="tuned", notes="", created=0, status="done", spec=spec,
                                       environment={}, runs=runs)])
    assert "- Learning rates chosen on validation (test accuracy plays no part): scratch at 5/class: lr 8e-3, " \
           "best of 4 on validation (the grid's highest rate: a higher one may be better)" in md
    assert "pretrained, fine-tune all at 5/class: lr 3e-4, best of 3 on validation" in md
    assert "1 of 2 chosen rates sit at an edge of their grid" in md
    assert "- Validation: within the labelled images (20 %, at least 1 per class; the rest train): 1 of the 5 " \
           "labelled per class validate at 5/class." in md


def test_show_lists_each_runs_rate_and_validation_accuracy_and_marks_the_chosen_one():
    from tlcompare.text.summaries import experiment_report

    runs = grid("scratch", 5, {1e-3: (0.5, 0.9), 3e-3: (0.6, 0.4)}, seeds=(0,)) + grid(
        "pretrained", 5, {1e-4: (0.9, 0.5), 3e-4: (0.7, 0.95)}, freeze=0, seeds=(0,))
    for i, r in enumerate(runs):
        r.update(run_id=i + 1, reused_from=None, error=None, attempts=1)
    exp = {"id": 1, "name": "tuned", "pinned": False, "status": "done", "created": 0, "dataset": "digits",
           "model": "m", "notes": "", "spec": {"budget": "epochs", "tune": "lr"}, "environment": {}}
    progress = {"counts": {"done": 4}, "finished": 4, "total": 4, "fraction": 1.0, "running": []}
    table = experiment_report(exp, progress, runs).split("\n\n")[1].splitlines()
    assert table[0].split() == ["RUN", "VARIANT", "SIZE", "SEED", "LR", "VAL_ACC", "STATUS", "EPOCHS", "TEST_ACC",
                                "TRAIN_S", "NOTE"]
    rows = {line.split()[0]: line for line in table[1:]}
    # Validation chooses 3e-3 for scratch and 1e-4 for the pretrained arm, though test says the opposite.
    assert "1e-3    0.500" in rows["1"] and not rows["1"].endswith("chosen rate")
    assert "3e-3    0.600" in rows["2"] and rows["2"].endswith("chosen rate")
    assert rows["3"].endswith("chosen rate") and not rows["4"].endswith("chosen rate")
    untuned = experiment_report({**exp, "spec": {"budget": "epochs"}}, progress, [runs[1], runs[2]])
    assert "LR" not in untuned.split("\n\n")[1].splitlines()[0].split()


def test_results_warns_on_its_first_screen_when_a_chosen_rate_sits_at_the_grids_edge_and_counts_every_rate(
        tmp_path, monkeypatch):
    """The rates themselves are listed under "The verdict in full" (folded); a choice at the grid's
    edge is a reason to distrust that size, so it is said beside the verdict, where the page opens."""
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import store_scale
    from dashboard_fixtures import seed_throughput
    from test_dashboard_pages import render, shown

    from tlcompare.store import Store

    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))

    def fill(best_scratch_rate: int, seeds: list[int]) -> int:  # which of scratch's 4 rates (0-3) validates best
        store = Store(tmp_path / "tlcompare.db")  # other seeds each time: no run is reused from the other experiment
        spec = build_spec({"sizes": [5], "seeds": seeds, "freeze": [0], "epochs": 3, "budget": "epochs", "tune": "lr",
                           "name": f"best rate {best_scratch_rate}"})
        experiment_id = store.create_experiment(spec)
        rng = random.Random(0)
        while (claimed := store.claim("w")) is not None:
            _, result = store_scale._result(claimed, 3, rng)
            run = claimed["run"]
            rank = sorted({r.lr for r in spec.runs() if r.arm == run.arm}).index(run.lr)
            best = best_scratch_rate if run.arm == "scratch" else 1
            result["lr"] = run.lr
            result["final"]["val_acc"] = 0.8 - 0.1 * abs(rank - best)
            store.finish_run(claimed["run_id"], "w", claimed["attempt"], result)
        store.close()
        return experiment_id

    at_edge, inside = fill(3, [0, 1]), fill(2, [2, 3])
    seed_throughput()  # the app opens on New experiment first: its estimate is not what this tests
    at = render("pages/results.py", query={"exp": str(at_edge)})
    warnings = [shown(w.value) for w in at.warning if w.value.startswith("Learning rates: ")]
    assert warnings == ["Learning rates: 1 of 2 chosen rates sit at an edge of their grid: widen it (lr_scratch, "
                        "lr_pretrained move its centre) before trusting those sizes."], [w.value for w in at.warning]
    # The cards count what the answer cost: every rate of the grid, not only the chosen one's runs.
    from tlcompare.text.summaries import duration

    metrics = {m.label: m for m in at.metric}
    runs = Store(tmp_path / "tlcompare.db").experiment_runs(at_edge)
    assert len(runs) == 16 and metrics["Runs"].value == "16"  # 2 arms x 4 rates x 2 seeds
    assert shown(metrics["Runs"].delta or "") == "4 compared" and "each arm's chosen rate" in metrics["Runs"].help
    assert metrics["Training time"].value == duration(sum(r["final"]["train_seconds"] for r in runs))
    at = render("pages/results.py", query={"exp": str(inside)})
    assert not [w.value for w in at.warning if w.value.startswith("Learning rates: ")]
