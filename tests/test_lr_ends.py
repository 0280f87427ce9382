"""tune = "lr-ends": the grid of learning rates at the smallest and largest size only; each size between
trains once, at the rate interpolated from the two ends' choices on validation, queued when the ends end.

The store tests give runs fake results through the store's own calls (validation and test accuracy
chosen per rate, so which one the choice reads shows); one test trains for real through `tlcompare run`.
"""

from __future__ import annotations

import json
import math

import pytest
from helpers import tlc
from test_store import fake_result

from tlcompare.analysis.tuning import choose, held_rates
from tlcompare.analysis.view import analyse
from tlcompare.errors import UserError
from tlcompare.spec import build_spec
from tlcompare.store import Store

BASE = dict(dataset="digits", model="efficientnet_lite0", sizes=[4, 8, 16, 32], freeze=[0], seeds=[0, 1],
            budget="epochs", epochs=1, image_size=16, device="cpu", tune="lr-ends", lr_grid=3)


def spec_of(**overrides):
    return build_spec({**BASE, **overrides})


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def finish(store: Store, claimed: dict, val: float, test: float, status: str = "done") -> None:
    result = fake_result(claimed, status)
    result["lr"] = claimed["run"].lr
    if status == "done":
        result["final"].update(val_acc=val, test_acc=test)
    store.finish_run(claimed["run_id"], "w", claimed["attempt"], result)


def best_at(lr_best: dict):
    """Validation peaks at the rate ``lr_best[(arm, size)]``; test accuracy peaks elsewhere (at the grid's
    lowest rate), so a choice read off test would differ."""
    def scores(claimed):
        run = claimed["run"]
        rates = run.experiment.lr_rates(run.arm)
        best = lr_best[(run.arm, run.size)]
        return (0.9 if run.lr == best else 0.5), (0.95 if run.lr == rates[0] and best != rates[0] else 0.3)
    return scores


def test_only_the_end_sizes_are_gridded_and_the_estimate_counts_every_run():
    spec = spec_of()
    assert spec.end_sizes == (4, 32) and spec.middle_sizes == (8, 16)
    runs = spec.runs()
    assert {r.size for r in runs} == {4, 32} and len(runs) == 2 * 2 * 2 * 3  # sizes x seeds x arms x rates
    held = spec.held_runs()
    assert {r.size for r in held} == {8, 16} and len(held) == 2 * 2 * 2
    assert len(spec.planned_runs()) == 24 + 8
    # Two sizes (or one): nothing between, the same runs as tune = "lr".
    two = spec_of(sizes=[4, 32])
    assert [r.config_hash() for r in two.runs()] == [r.config_hash() for r in spec_of(sizes=[4, 32], tune="lr").runs()]
    assert two.held_runs() == []


def test_the_interpolated_rate_comes_from_validation_only():
    spec = spec_of(seeds=[0])
    rates = spec.lr_rates("scratch")  # (3.7e-4, 2e-3, 1.1e-2)
    runs = []
    for size, best in ((4, rates[2]), (32, rates[0])):
        for lr in rates:
            val, test = (0.9, 0.2) if lr == best else (0.5, 0.99)
            runs.append({"arm": "scratch", "freeze": None, "size": size, "lr": lr, "status": "done",
                         "final": {"val_acc": val, "test_acc": test}})
    chosen = held_rates(runs, (8, 16))[("scratch", "None")]
    # 1/3 and 2/3 of the way in log size from 1.1e-2 (at 4) to 3.7e-4 (at 32), snapped to the grid
    for size in (8, 16):
        t = (math.log(size) - math.log(4)) / (math.log(32) - math.log(4))
        exact = math.exp((1 - t) * math.log(rates[2]) + t * math.log(rates[0]))
        assert chosen[size] == min(rates, key=lambda r: abs(math.log(r / exact)))
    assert chosen == {8: rates[1], 16: rates[1]}
    # Test accuracy plays no part: turning it upside down changes nothing; moving validation does.
    for r in runs:
        r["final"]["test_acc"] = 1 - r["final"]["test_acc"]
    assert held_rates(runs, (8, 16))[("scratch", "None")] == chosen
    for r in runs:
        if r["size"] == 32:
            r["final"]["val_acc"] = 0.9 if r["lr"] == rates[2] else 0.5
    assert held_rates(runs, (8, 16))[("scratch", "None")] == {8: rates[2], 16: rates[2]}


def test_the_middle_sizes_are_queued_when_the_ends_have_ended_and_the_experiment_never_reads_done_between(store):
    spec = spec_of()
    exp = store.create_experiment(spec)
    rates = {arm: spec.lr_rates(arm) for arm in ("scratch", "pretrained")}
    scores = best_at({("scratch", 4): rates["scratch"][2], ("scratch", 32): rates["scratch"][0],
                      ("pretrained", 4): rates["pretrained"][1], ("pretrained", 32): rates["pretrained"][1]})
    n_ends = len(spec.runs())
    assert not store.may_queue_more(exp)
    for i in range(n_ends):
        claimed = store.claim("w", experiment_id=exp)
        assert claimed is not None and claimed["size"] in (4, 32)
        # A worker told to stop when the queue is empty waits while an end trains: it may release more.
        assert store.may_queue_more(exp) and store.may_queue_more()
        assert {r["size"] for r in store.experiment_runs(exp, epochs=False)} == {4, 32}
        finish(store, claimed, *scores(claimed))
        status = store.get_experiment(exp)["status"]
        assert status != "done", f"read done after {i + 1} of {n_ends} end runs"
    runs = store.experiment_runs(exp, epochs=False)
    middle = [r for r in runs if r["size"] in (8, 16)]
    assert len(middle) == 8 and all(r["status"] == "queued" for r in middle)
    assert [r["position"] for r in middle] == list(range(n_ends, n_ends + 8))
    by_arm = {(r["arm"], r["size"]): r["lr"] for r in middle}
    assert by_arm == {("scratch", 8): rates["scratch"][1], ("scratch", 16): rates["scratch"][1],
                      ("pretrained", 8): rates["pretrained"][1], ("pretrained", 16): rates["pretrained"][1]}
    # A worker trains the stored rate; its hash is that run's content.
    claimed = store.claim("w", experiment_id=exp)
    assert claimed["size"] == 8 and claimed["run"].lr == by_arm[(claimed["arm"], 8)]
    assert claimed["run"].config_hash() == claimed["config_hash"]
    finish(store, claimed, 0.7, 0.7)
    while (claimed := store.claim("w", experiment_id=exp)) is not None:
        finish(store, claimed, 0.7, 0.7)
    assert store.get_experiment(exp)["status"] == "done" and len(store.experiment_runs(exp, epochs=False)) == 32
    assert not store.may_queue_more(exp)

    # The faces say where each middle rate came from, beside the ends' choices.
    view = analyse(store.experiment_runs(exp), spec.to_dict())
    lines = view.tuning.lines()
    assert "scratch at 8/class: lr 2e-3, interpolated between the choices at 4 and 32/class" in lines
    assert "scratch at 4/class: lr 1.1e-2, best of 3 on validation (the grid's highest rate: a higher one may be " \
           "better)" in lines
    assert {(r["size"], r["lr"]) for r in view.tuning.runs if r["arm"] == "scratch"} == {
        (4, rates["scratch"][2]), (8, rates["scratch"][1]), (16, rates["scratch"][1]), (32, rates["scratch"][0])}
    exported = {(row["variant"], row["size"]): row["chosen_on"] for row in view.tuning.export_rows()}
    assert exported[("scratch", 16)] == "interpolated between the choices at 4 and 32/class"
    assert exported[("scratch", 32)] == "validation"


def test_a_cancel_holds_the_middle_sizes_back_until_the_ends_are_resumed_and_finished(store):
    spec = spec_of(seeds=[0], freeze=["all"])
    exp = store.create_experiment(spec)
    claimed = store.claim("w", experiment_id=exp)
    finish(store, claimed, 0.8, 0.8)
    store.request_cancel(exp)
    assert store.get_experiment(exp)["status"] == "cancelled"
    assert {r["size"] for r in store.experiment_runs(exp, epochs=False)} == {4, 32}
    assert store.resume_experiment(exp) == len(spec.runs()) - 1
    while (claimed := store.claim("w", experiment_id=exp)) is not None:
        finish(store, claimed, 0.8 if claimed["run"].lr == max(claimed["run"].experiment.lr_rates(claimed["arm"]))
               else 0.6, 0.5)
    runs = store.experiment_runs(exp, epochs=False)
    assert len(runs) == len(spec.planned_runs()) and all(r["status"] == "done" for r in runs)
    assert store.get_experiment(exp)["status"] == "done"


def test_an_arm_whose_end_grid_all_failed_gets_failed_middle_runs_that_say_why(store):
    spec = spec_of(seeds=[0])
    exp = store.create_experiment(spec)
    while (claimed := store.claim("w", experiment_id=exp)) is not None:
        if claimed["arm"] == "pretrained" and claimed["size"] == 32:
            store.fail_run(claimed["run_id"], "w", claimed["attempt"], "out of memory")
        else:
            finish(store, claimed, 0.6 + claimed["run"].lr, 0.5)
    runs = store.experiment_runs(exp, epochs=False)
    middle = {(r["arm"], r["size"]): r for r in runs if r["size"] in (8, 16)}
    assert middle[("scratch", 8)]["status"] == "done"  # scratch's ends chose: its middle runs trained
    failed = middle[("pretrained", 8)]
    assert failed["status"] == "failed" and failed["reused_from"] is None
    assert failed["error"] == ("no learning rate to interpolate: no rate of this arm's grid finished at 4 and 32/class "
                               "(see those runs' errors)")
    assert store.get_experiment(exp)["status"] == "failed"


def test_middle_runs_reuse_a_finished_run_of_the_same_content(store):
    # A full grid at 8/class trained before: the lr-ends experiment's middle run at that rate is linked to it.
    full = store.create_experiment(spec_of(sizes=[8], seeds=[0], freeze=[0], tune="lr"))
    while (claimed := store.claim("w", experiment_id=full)) is not None:
        finish(store, claimed, 0.7, 0.7)
    spec = spec_of(sizes=[4, 8, 32], seeds=[0], freeze=[0])
    exp = store.create_experiment(spec)
    while (claimed := store.claim("w", experiment_id=exp)) is not None:
        assert claimed["size"] != 8, "a middle run with a finished twin was trained again"
        finish(store, claimed, 0.9 if claimed["run"].lr == claimed["run"].experiment.lr_rates(claimed["arm"])[0]
               else 0.5, 0.5)
    middle = [r for r in store.experiment_runs(exp, epochs=False) if r["size"] == 8]
    assert len(middle) == 2 and all(r["status"] == "done" and r["reused_from"] is not None for r in middle)


def test_an_lr_ends_experiment_cannot_grow_and_says_why(store):
    exp = store.create_experiment(spec_of(seeds=[0]))
    with pytest.raises(UserError, match=r"tuned at its smallest and largest size only .* cannot grow"):
        store.extend_experiment(exp, spec_of(seeds=[0, 1]))


def test_the_spec_counts_the_lr_ends_runs_against_the_limit_and_names_the_mode():
    from tlcompare.errors import SpecError

    with pytest.raises(SpecError, match="choose none, lr .* or lr-ends"):
        build_spec({**BASE, "tune": "ends"})
    many = dict(sizes=list(range(2, 101)), seeds=list(range(10)), lr_grid=12)
    spec = spec_of(**many)  # 2 sizes x 12 rates + 97 sizes, x 10 seeds x 2 arms: 2,420 runs
    assert len(spec.planned_runs()) == (2 * 12 + 97) * 10 * 2
    with pytest.raises(SpecError, match="23,760 runs in one experiment"):  # every size gridded: over 10,000
        spec_of(**many, tune="lr")


@pytest.mark.slow
def test_tlcompare_run_trains_the_ends_then_the_middle_at_the_chosen_rates(tmp_path, capsys):
    values = dict(BASE, sizes=[3, 5, 8], seeds=[0], lr_grid=2)
    path = tmp_path / "ends.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    out = tmp_path / "out.json"
    r = tlc("run", "--config", path, "--out", out, home=tmp_path / "home", capsys=capsys)
    assert r.returncode == 0, r.stderr
    assert "10 runs (3 sizes x 1 seeds x 2 learning rates at 3 and 8/class, 1 between)" in r.stderr
    (report,) = json.loads(out.read_text())["experiments"]
    runs = report["runs"]
    assert len(runs) == 10 and all(x["status"] == "done" for x in runs)
    ends = [x for x in runs if x["size"] in (3, 8)]
    expected = held_rates(ends, (5,))
    for x in runs:
        if x["size"] == 5:
            assert x["lr"] == expected[(x["arm"], repr(x["freeze"]))][5]
    # The JSON says how each rate was chosen.
    how = {(c["variant"], c["size"]): c["chosen_on"] for c in report["learning_rates"]}
    assert how[("scratch", 5)] == "interpolated between the choices at 3 and 8/class"
    assert how[("scratch", 3)] == "validation"
    assert choose(ends).tuned


def test_the_progress_counts_the_held_runs_and_says_what_they_wait_for(store):
    from tlcompare.live.table import progress_line

    spec = spec_of(seeds=[0])
    exp = store.create_experiment(spec)
    progress = store.experiment_progress(exp)
    assert progress["total"] == len(spec.planned_runs()) == 6 * 2 + 2 * 2 and progress["held"] == 4
    assert progress_line(progress).startswith("0 of 16 runs finished · 4 wait for the learning rates the smallest "
                                              "and largest size choose")
    while (claimed := store.claim("w", experiment_id=exp)) is not None and claimed["size"] in (4, 32):
        finish(store, claimed, 0.5, 0.5)
    progress = store.experiment_progress(exp)
    assert progress["held"] == 0 and progress["total"] == 16
