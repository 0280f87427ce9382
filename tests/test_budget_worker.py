"""Budgets, convergence flags and the random-features control, trained for real: digits through a
real `tlcompare worker` process and a real store file, and `tlcompare run` end to end."""

import json

import pytest
from helpers import tlc

from tlcompare.analysis.convergence import flags_frame
from tlcompare.store import Store

pytestmark = pytest.mark.slow

TINY = dict(dataset="digits", model="efficientnet_lite0", sizes=[2], seeds=[0], image_size=16, batch_size=32,
            device="cpu", augment="none")


# One thread, as the other worker tests: two cores shared by several processes.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "TLCOMPARE_POLL_SECONDS": "0.2"}


def submit(tmp_path, home, name, **values) -> int:
    path = tmp_path / f"{name}.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in {**TINY, **values}.items()))
    r = tlc("submit", path, home=home, env=WORKER_ENV)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One experiment per budget, all trained by one real worker process."""
    tmp = tmp_path_factory.mktemp("budgets")
    home = tmp / "home"
    ids = {
        "epochs": submit(tmp, home, "epochs", freeze=[0], budget="epochs", epochs=2),
        "steps": submit(tmp, home, "steps", freeze=["all"], budget="steps", steps=7),
        "converged": submit(tmp, home, "converged", freeze=["all"], budget="converged", min_steps=6, patience=6,
                            max_epochs=12),
    }
    r = tlc("worker", "--once", home=home, env=WORKER_ENV)
    assert r.returncode == 0, r.stderr
    store = Store(home / "tlcompare.db")
    yield home, {b: store.experiment_runs(i) for b, i in ids.items()}, ids
    store.close()


def by_arm(runs):
    return {r["arm"]: r for r in runs}


def test_epochs_budget_trains_its_epochs_and_flags_the_underfit_scratch_run(trained, capsys):
    home, runs, ids = trained
    scratch, pre = by_arm(runs["epochs"])["scratch"], by_arm(runs["epochs"])["pretrained"]
    for r in (scratch, pre):
        assert r["status"] == "done" and r["budget"] == "epochs" and r["stop_reason"] == "epochs"
        assert r["epochs_done"] == 2 and len(r["epochs"]) == 2
        assert r["steps_done"] == 2 * -(-r["n_train"] // r["epochs"][0]["batch_size"])
        # Un-augmented training accuracy of the reported model, and the rates actually used.
        assert 0 <= r["final"]["train_acc_clean"] <= 1 and r["epochs"][-1]["lr_body"] is not None
        assert r["threads"] == 1 and r["machine"].startswith("CPU")
        # All images over all seconds, not the mean of the epochs' rates.
        images = sum(e["images_per_sec"] * e["train_seconds"] for e in r["epochs"])
        assert r["final"]["images_per_sec"] == pytest.approx(images / r["final"]["train_seconds"], rel=1e-6)
    # Two epochs from random init on 20 images cannot fit them: the flag and its fix are raised.
    flags = flags_frame(runs["epochs"]).set_index("arm")
    assert flags.loc["scratch", "underfit"] and flags.loc["scratch", "train_acc"] < 0.9
    assert flags.loc["scratch", "fix"] == "more epochs, or the budget 'until converged'"
    show = tlc("show", ids["epochs"], home=home, env=WORKER_ENV, capsys=capsys)
    assert show.returncode == 0, show.stderr
    assert "Budget: epochs (equal epochs); 2 epochs per run" in show.stdout
    assert "scratch at 2/class (seed 0): underfit" in show.stdout and "Fix: more epochs, or the budget 'until converged'." in show.stdout


def test_steps_budget_runs_exactly_its_steps(trained):
    _, runs, _ = trained
    for r in runs["steps"]:
        assert r["status"] == "done" and r["stop_reason"] == "steps" and r["steps_done"] == 7
        per_epoch = -(-r["n_train"] // r["epochs"][0]["batch_size"])
        assert r["epochs_done"] == -(-7 // per_epoch)
    # A linear probe trains no body: its body rate is recorded as none, its head rate as used.
    probe = by_arm(runs["steps"])["pretrained"]
    assert probe["epochs"][0]["lr_body"] is None and probe["epochs"][0]["lr_head"] > 0
    assert probe["head_lr"] == pytest.approx(probe["lr"] * 10)


def test_converged_budget_stops_on_its_rule_and_reports_its_best_validation_epoch(trained):
    _, runs, _ = trained
    for r in runs["converged"]:
        assert r["status"] == "done" and r["budget"] == "converged"
        assert r["stop_reason"] in ("plateau", "cap") and r["epochs_done"] <= 12 and r["steps_done"] >= 6
        if r["stop_reason"] == "plateau":
            per_epoch = -(-r["n_train"] // r["epochs"][0]["batch_size"])
            # after its best epoch, patience twice in optimizer steps (decay, then stop)
            assert r["steps_done"] >= per_epoch + 2 * 6
        best = max(r["epochs"], key=lambda e: (e["val_acc"], -e["epoch"]))
        assert r["final"]["final_epoch"] == best["epoch"]
        assert r["final"]["val_acc"] == best["val_acc"] and 0 <= r["final"]["test_acc"] <= 1
        assert all("test_acc" not in e for e in r["epochs"])  # the test set is read once, on the reported model


def test_random_control_runs_end_to_end_and_is_compared_with_the_pretrained_probe(tmp_path, tlcompare_home, capsys, one_thread):
    out = tmp_path / "res.json"
    p = tlc("run", "--dataset", "digits", "--sizes", "3", "--seeds", "2", "--freeze", "all", "--random-control",
            "--budget", "epochs", "--epochs", "3", "--augment", "none", "--image-size", "16", "--device", "cpu",
            "--out", out, home=tlcompare_home, capsys=capsys)
    assert p.returncode == 0, p.stderr
    (experiment,) = json.loads(out.read_text())["experiments"]
    runs = experiment["runs"]
    control = [r for r in runs if r["arm"] == "random"]
    assert len(control) == 2 and all(r["status"] == "done" and r["freeze"] == "all" for r in control)
    # Random bodies are seeded: each seed computes its own features, and they are not the pretrained ones.
    assert [r["feature_cache"] for r in control] == ["computed", "computed"]
    assert all(r["pretrained_source"] is None for r in control)
    pre = {r["seed"]: r for r in runs if r["arm"] == "pretrained"}
    assert any(r["epochs"][-1]["val_loss"] != pre[r["seed"]]["epochs"][-1]["val_loss"] for r in control)
    assert "random features, linear probe" in p.stdout
    assert "Pretrained vs random features (same freezing depth, paired on size and seed):" in p.stdout
    assert "With 3 images per class, pretrained, linear probe" in p.stdout
