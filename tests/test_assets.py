"""assets/ and the report's stylesheet: the sample zip is what its README says and a new user can
train on it from the own-images tab; the report's CSS ships inside the installed engine."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_dashboard_pages import markdown_text, render, wait_for_facts

from tlcompare.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "sample-shapes.zip"


def test_the_sample_zip_holds_24_pngs_of_each_shape_and_stays_small():
    assert SAMPLE.stat().st_size < 200 * 1024
    with zipfile.ZipFile(SAMPLE) as z:
        names = z.namelist()
        classes = sorted({Path(n).parent.name for n in names})
        assert classes == ["circle", "square", "triangle"]
        assert all(re.fullmatch(r"shapes/(circle|square|triangle)/\1-\d\d\.png", n) for n in names), names
        assert len(names) == 72
        pixels = [np.asarray(Image.open(io.BytesIO(z.read(n)))) for n in names]
    assert {p.shape for p in pixels} == {(48, 48, 3)}
    assert len({p.tobytes() for p in pixels}) == 72  # no duplicate that could sit in train and test at once
    readme = (ROOT / "assets" / "README.md").read_text()
    assert "sample-shapes.zip" in readme and "assets/make.py" in readme


@pytest.mark.slow
def test_the_sample_zip_from_the_own_images_tab_trains_end_to_end(monkeypatch, tlcompare_home):
    from dashboard_fixtures import seed_throughput

    from tlcompare.worker.process import Worker, WorkerConfig

    monkeypatch.setattr("tlcompare.worker.control.ensure_worker", lambda **kw: {"state": "starting", "alive": True})
    seed_throughput()  # the form's first look (32 px), and the size chosen below
    seed_throughput(image_size=16)
    at = render("pages/new_experiment.py")
    at.toggle(key="own_sample").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**72** images" in markdown_text(at) and "**3** classes" in markdown_text(at)
    assert at.checkbox(key="use_own_data").value
    at.multiselect(key="f_sizes").set_value([2]).run()  # the default sizes are more than 17 a class
    at.multiselect(key="f_freeze").set_value(["all"]).run()
    at.number_input(key="f_seeds").set_value(1).run()
    at.number_input(key="f_epochs").set_value(1).run()
    at.selectbox(key="f_image_size").set_value(16).run()
    at.selectbox(key="f_device").set_value("cpu").run()
    wait_for_facts(at)  # the sample's split is read in a process of its own; Start waits for it
    assert not at.error, [e.value for e in at.error]
    at.button(key="start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]

    store = Store()
    (experiment,) = store.list_experiments()
    dataset = experiment["spec"]["dataset"]
    # Extracted like an upload: into TLCOMPARE_HOME/uploads, never read from the repository's copy.
    assert dataset.startswith(f"imagefolder:{tlcompare_home / 'uploads'}"), dataset
    Worker(store, config=WorkerConfig(heartbeat_seconds=0.5, poll_seconds=0.1), log=lambda m: None).serve(once=True)
    runs = store.experiment_runs(experiment["id"])
    assert [r["status"] for r in runs] == ["done"] * len(runs) and len(runs) == 2  # from scratch, linear probe
    assert all(0.0 <= r["final"]["test_acc"] <= 1.0 and len(r["per_class_acc"]) == 3 for r in runs)


def test_the_report_stylesheet_ships_in_the_wheel_and_loads_without_the_repository(tmp_path):
    from tlcompare.report.style import CSS, PRINT_WIDTH_PX

    # The print rule draws charts at the width the figures are laid out for.
    assert f".chart {{ width: {PRINT_WIDTH_PX}px !important; }}" in CSS
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "tlcompare", source / "tlcompare", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("tlcompare-*.whl")
    import tlcompare

    assert wheel.name.startswith(f"tlcompare-{tlcompare.__version__}-")  # one source of the version
    with zipfile.ZipFile(wheel) as z:
        assert "tlcompare/report/report.css" in z.namelist()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in z.namelist())  # the licence ships too
        z.extractall(tmp_path / "site")
    # Run from elsewhere with only the unpacked wheel on the path: no copy of the repository in reach.
    probe = ("import tlcompare.report.style as s; print(s.__file__); print(len(s.CSS))")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out[0].startswith(str(tmp_path / "site")) and int(out[1]) == len(CSS)
