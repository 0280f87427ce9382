"""`tlcompare run --preset NAME` and `submit --preset NAME`: the form's presets on the command line,
each flag (and --config) overriding the preset's value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tlcompare.cli import build_parser, main, spec_from_args
from tlcompare.presets import PRESETS


def _spec(*argv):
    return spec_from_args(build_parser().parse_args(list(argv)))


@pytest.mark.parametrize("command", ["run", "submit"])
@pytest.mark.parametrize("key", list(PRESETS))
def test_a_preset_gives_the_forms_runs(command, key):
    spec = _spec(command, "--preset", key)
    assert [r.config_hash() for r in spec.runs()] == [r.config_hash() for r in PRESETS[key].spec().runs()]
    assert spec.name == PRESETS[key].spec().name and spec.budget == "epochs"


def test_flags_and_config_override_the_presets_values(tmp_path):
    toml = tmp_path / "x.toml"
    toml.write_text("seeds = 3\nepochs = 7\n")
    spec = _spec("run", "--preset", "cpu_quick", "--config", str(toml), "--epochs", "2", "--sizes", "5", "--name", "mine")
    quick = PRESETS["cpu_quick"].spec()
    assert spec.epochs == 2 and spec.sizes == (5,) and spec.name == "mine"  # the flags
    assert spec.seeds == (0, 1, 2)  # the file
    assert spec.image_size == quick.image_size and spec.freeze == quick.freeze and spec.dataset == quick.dataset


def test_help_lists_every_preset_and_an_unknown_one_is_refused(capsys):
    for command in ("run", "submit"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert all(f"{key} ({preset.title})" in text for key, preset in PRESETS.items())
    with pytest.raises(SystemExit) as done:
        main(["run", "--preset", "cpu_slow"])
    assert done.value.code == 2 and "invalid choice: 'cpu_slow'" in capsys.readouterr().err


def test_submit_queues_the_preset(tlcompare_home):
    p = subprocess.run([sys.executable, "-m", "tlcompare", "submit", "--preset", "cpu_quick", "--seeds", "1"],
                       env={**os.environ, "TLCOMPARE_HOME": str(tlcompare_home)}, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    n = len(PRESETS["cpu_quick"].spec().runs()) // len(PRESETS["cpu_quick"].spec().seeds)
    assert p.stdout.strip() == "1" and f"experiment 1: {n} runs" in p.stderr


def test_the_quick_presets_caption_quotes_only_a_measured_time(monkeypatch):
    from tlcompare import presets

    story = PRESETS["cpu_quick"].story
    assert "laptop" not in story and "minute" not in story
    assert f"Measured: {presets.QUICK_MEASURED} on a quiet 2-core CPU, start to verdict." in story
    monkeypatch.setattr(presets, "QUICK_MEASURED", "")  # not measured: the caption points at the estimate
    assert "estimate below" in presets._quick_time() and "Measured" not in presets._quick_time()
