"""The freezing depth and the training-set size are decided once: refused when the spec is built
(flags, experiment file, form), stored typed, trained as stored, resolved once per run, and
ordered by data in the analysis. Real digits, a real store file, the real form."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tlcompare.cli import main
from tlcompare.errors import SpecError
from tlcompare.spec import RunSpec, build_spec, spec_from_dict
from tlcompare.store import Store
from tlcompare.store.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parent.parent
# A store written by tlcompare at schema version 3 (depths stored as text), by `tlcompare run --sizes 2
# --seeds 1 --freeze 0,2,all --epochs 1 --budget epochs --image-size 32 --small-cnn` on digits.
STORE_V3 = Path(__file__).resolve().parent / "data" / "store_schema_v3.db"
V3_SPEC = {"dataset": "digits", "sizes": [2], "seeds": 1, "freeze": [0, 2, "all"], "epochs": 1, "budget": "epochs",
           "image_size": 32, "small_cnn": True, "validation": "held_out", "name": "made at schema v3"}


def _refused(capsys, *args) -> str:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("tlcompare: error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def _n_experiments(home: Path) -> int:
    db = home / "tlcompare.db"
    return 0 if not db.exists() else sqlite3.connect(db).execute("SELECT count(*) FROM experiments").fetchone()[0]


# -- refused when built: flags, experiment file, form --------------------------------------------------
@pytest.mark.parametrize("toml, says", [
    ('freeze = [0, 99]', "freeze: depth 99 is deeper than efficientnet_lite0's 9 stages; use 0 (fine-tune everything) to 9, or 'all'"),
    ('model = "resnet18"\nfreeze = [6]', "freeze: depth 6 is deeper than resnet18's 5 stages; use 0 (fine-tune everything) to 5"),
    ('sizes = [5, 500]', "sizes: size 500 per class is more than class '8' has for training: 122 images"),
])
def test_an_experiment_file_asking_what_the_model_or_data_lacks_is_refused_before_storing(toml, says, tmp_path,
                                                                                         tlcompare_home, capsys):
    config = tmp_path / "exp.toml"
    config.write_text(toml + "\n")
    for command in ("submit", "run"):
        err = _refused(capsys, command, "--config", config)
        assert says in err, err
    assert _n_experiments(tlcompare_home) == 0


def test_a_flag_overriding_a_good_file_is_refused_the_same_way(tmp_path, tlcompare_home, capsys):
    config = tmp_path / "exp.toml"
    config.write_text("freeze = [0, 3]\nsizes = [5]\n")
    assert "depth 12 is deeper" in _refused(capsys, "submit", "--config", config, "--freeze", "12")
    assert "use sizes up to 122" in _refused(capsys, "submit", "--config", config, "--sizes", "130")
    assert _n_experiments(tlcompare_home) == 0


@pytest.mark.slow  # a new interpreter that imports torch
def test_depths_are_checked_without_importing_any_model():
    code = ("import sys\n"
            "from tlcompare.errors import SpecError\n"
            "from tlcompare.spec import build_spec\n"
            "try:\n    build_spec({'freeze': '0,99', 'model': 'mobilenet_v3_large'})\nexcept SpecError as e:\n    print(e)\n"
            "build_spec({'freeze': '0,8,all', 'model': 'mobilenet_v3_large'})\n"
            "print('models imported:', 'tlcompare.models' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr
    assert "depth 99 is deeper than mobilenet_v3_large's 8 stages" in p.stdout
    assert "models imported: False" in p.stdout


def test_the_stage_table_the_spec_checks_against_is_the_model_registry():
    from tlcompare.models import list_models
    from tlcompare.text.stages import STAGE_SHAPES, stage_count

    models = list_models()
    assert list(STAGE_SHAPES) == [m.name for m in models]
    assert all(stage_count(m.name) == len(m.stage_names) for m in models)
    assert stage_count("no_such_model") is None


def test_sizes_are_checked_against_the_pools_the_form_measured(monkeypatch):
    from tlcompare.data import facts as facts_module

    facts = facts_module.dataset_facts("digits")
    assert facts.max_size == 122 and facts.split == (0.1, 0.2, 0)

    def no_reading(*args, **kwargs):
        raise AssertionError("the data was read again although its pools were given")

    monkeypatch.setattr(facts_module, "load_dataset", no_reading)
    with pytest.raises(SpecError, match=r"size 123 per class is more than class '8' has for training: 122 images"):
        build_spec({"sizes": [5, 123]}, facts=facts)
    assert build_spec({"sizes": [5, 122]}, facts=facts).sizes == (5, 122)
    # Pools measured on another split say nothing about this one: they are measured again.
    with pytest.raises(AssertionError, match="read again"):
        build_spec({"sizes": [5], "val_fraction": 0.3}, facts=facts)


def test_the_form_offers_no_depth_the_backbone_lacks_and_stores_sizes_within_the_pools(monkeypatch, tlcompare_home):
    from dashboard_fixtures import seed_facts, seed_throughput

    seed_throughput()
    seed_throughput("resnet18")  # the backbone chosen below
    seed_facts()
    monkeypatch.setattr("tlcompare.worker.control.ensure_worker", lambda **kw: {"state": "starting", "alive": True})
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.multiselect(key="f_freeze").set_value([0, 8, "all"]).run()
    at.selectbox(key="f_model").set_value("resnet18").run()  # 5 stages: depth 8 is gone, not kept
    assert at.session_state["f_freeze"] == [0, "all"]
    assert [o.split(" · ")[0] for o in at.multiselect(key="f_freeze").options] == ["0", "1", "2", "3", "4", "all"]
    at.multiselect(key="f_sizes").set_value([2, "9999"]).run()
    assert any("9999 per class is more than the smallest class has for training\\: using 122" in c.value
               for c in at.caption), [c.value for c in at.caption]
    at.number_input(key="f_epochs").set_value(1).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (experiment,) = Store().list_experiments()
    assert experiment["spec"]["model"] == "resnet18"
    assert experiment["spec"]["freeze"] == [0, "all"] and experiment["spec"]["sizes"] == [2, 122]


# -- stored typed, trained as stored -------------------------------------------------------------------
def test_depths_are_stored_as_json_and_read_back_typed(tmp_path):
    store = Store(tmp_path / "s.db")
    spec = build_spec({"sizes": [2], "seeds": 1, "freeze": [0, 2, "all"], "budget": "epochs", "epochs": 1})
    exp_id = store.create_experiment(spec)
    raw = sqlite3.connect(tmp_path / "s.db").execute("SELECT freeze FROM runs ORDER BY position").fetchall()
    assert [r[0] for r in raw] == [None, "0", "2", '"all"']
    assert [json.loads(r[0]) if r[0] else None for r in raw] == [None, 0, 2, "all"]
    runs = store.experiment_runs(exp_id)
    assert [r["freeze"] for r in runs] == [None, 0, 2, "all"]
    assert [r["label"].split(" · ")[0] for r in runs] == [
        "scratch", "pretrained, fine-tune all", "pretrained, freeze 2", "pretrained, linear probe"]


def test_a_worker_gets_the_stored_run_without_building_the_spec_again(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.db")
    spec = build_spec({"sizes": [2], "seeds": 1, "freeze": ["all"], "budget": "epochs", "epochs": 1})
    store.create_experiment(spec)

    def no_second_build(*args, **kwargs):
        raise AssertionError("the stored spec was built again")

    monkeypatch.setattr("tlcompare.spec.build_spec", no_second_build)
    store.register_worker("w1", "cpu", None)
    claimed = [store.claim("w1"), store.claim("w1")]
    runs = [c["run"] for c in claimed]
    assert all(isinstance(r, RunSpec) for r in runs)
    assert [(r.arm, r.size, r.seed, r.freeze) for r in runs] == [("scratch", 2, 0, None), ("pretrained", 2, 0, "all")]
    assert [r.experiment for r in runs] == [spec, spec]
    assert [r.config_hash() for r in runs] == [c["config_hash"] for c in claimed]


@pytest.mark.slow
def test_the_training_loop_resolves_the_depth_once_per_run(monkeypatch, one_thread):
    from tlcompare.models import freeze as freeze_module
    from tlcompare.train import prepare, train_run

    calls = []
    resolve = freeze_module.resolve_depth
    monkeypatch.setattr(freeze_module, "resolve_depth", lambda backbone, depth: calls.append(depth) or resolve(backbone, depth))
    spec = build_spec({"image_size": 16, "sizes": [3], "seeds": 1, "freeze": [3], "budget": "epochs", "epochs": 3,
                       "batch_size": 16, "device": "cpu", "feature_cache": False})
    run = next(r for r in spec.runs() if r.arm == "pretrained")
    result = train_run(run, prepare(spec, torch.device("cpu")), torch.device("cpu"))
    assert result.status == "done" and len(result.epochs) == 3
    assert calls == [3]
    assert result.frozen_stages == ["stem", "blocks.0", "blocks.1"]


# -- a store written before depths were JSON -----------------------------------------------------------
def test_a_store_from_schema_v3_reads_its_depths_typed_and_its_runs_are_still_reused(tmp_path):
    path = tmp_path / "old.db"
    shutil.copyfile(STORE_V3, path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3
    store = Store(path)
    (old,) = store.list_experiments()
    runs = store.experiment_runs(old["id"])
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [(r["arm"], r["freeze"]) for r in runs] == [
        ("scratch", None), ("pretrained", 0), ("pretrained", 2), ("pretrained", "all"), ("small_cnn", None)]
    assert all(r["status"] == "done" for r in runs)
    assert runs[2]["label"] == "pretrained, freeze 2 · 2 per class · seed 0"
    # Its stored spec predates validation = within (no key): it reads back as held_out, as it trained.
    stored = spec_from_dict(old["spec"])
    assert "validation" not in old["spec"] and stored.validation == "held_out"
    assert [r.config_hash() for r in stored.runs()] == [r["config_hash"] for r in runs]
    # The same experiment built today (held_out named: within is the default now) has the same config
    # hashes: every run is reused, none queued.
    new_id = store.create_experiment(build_spec(V3_SPEC))
    again = store.experiment_runs(new_id)
    assert [r["config_hash"] for r in again] == [r["config_hash"] for r in runs]
    assert [r["reused_from"] for r in again] == [r["run_id"] for r in runs]


# -- ordered by data -------------------------------------------------------------------------------------
def test_variants_and_depths_are_ordered_by_their_data():
    from tlcompare.analysis.frames import depth_summary, runs_frame, variant_order

    names = ["pretrained, linear probe", "random features, freeze 3", "pretrained, freeze 12", "small CNN (scratch)",
             "pretrained, fine-tune all", "scratch", "pretrained, freeze 3", "random features, linear probe"]
    assert variant_order(names) == [
        "scratch", "pretrained, fine-tune all", "pretrained, freeze 3", "pretrained, freeze 12",
        "pretrained, linear probe", "random features, freeze 3", "random features, linear probe", "small CNN (scratch)"]
    runs = [{"arm": arm, "size": 5, "seed": 0, "freeze": depth, "status": "done", "trainable_params": 10,
             "final": {"test_acc": 0.5, "train_seconds": 1.0}}
            for arm, depth in [("pretrained", "all"), ("pretrained", 10), ("scratch", None), ("pretrained", 2),
                               ("pretrained", 0)]]
    table = depth_summary(runs_frame(runs))
    assert list(table["depth"]) == [None, 0, 2, 10, "all"]  # "10" before "2" if it were sorted as text
    assert list(table["freeze"]) == ["scratch", "0", "2", "10", "all"]
