"""The prepared GPU check runs end to end on the CPU (--dry), stops a part at its limit, installs
what it carries, and needs nothing a bare GPU machine lacks (streamlit, plotly, data packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402


@pytest.mark.slow
def test_the_dry_run_writes_a_json_and_a_log_for_every_part(tmp_path):
    out = tmp_path / "check"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry", "--out", str(out),
                           "--payload", str(tmp_path / "no-payload")],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry"] and set(summary["parts"]) == {"tests", "throughput", "sweep", "levers"}
    for name, part in summary["parts"].items():
        assert part["rc"] == 0 and not part["timed_out"], name
        assert (out / f"{name}.json").exists() and (out / f"{name}.log").read_text().startswith("$ ")

    tests = json.loads((out / "tests.json").read_text())
    names = {t["name"] for t in tests["tests"]}
    assert {"test_running_out_of_gpu_memory_restarts_the_run_at_a_smaller_batch",
            "test_a_dataset_in_pinned_host_memory_trains_like_a_resident_one_on_cuda",
            "test_the_nvml_sampler_sees_the_gpu_working"} <= names
    assert tests["counts"]["failed"] == tests["counts"]["error"] == 0
    if not torch.cuda.is_available():  # skipped, each with its reason
        assert all(t["outcome"] == "skipped" and "CUDA" in t["message"] for t in tests["tests"])

    rows = json.loads((out / "throughput.json").read_text())
    assert rows["complete"] and [r["training"] for r in rows["rows"]] == ["full fine-tuning", "linear probe"]
    assert all(r["tlcompare_img_s"] > 0 and r["baseline_img_s"] > 0 for r in rows["rows"])

    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["complete"] and sweep["runs"] == len(sweep["per_run"]) == 6
    assert sweep["estimated_seconds"] > 0 and sweep["estimate_error_percent"] is not None
    assert all(r["peak_mem_mb"] > 0 for r in sweep["per_run"])

    levers = {r["lever"]: r for r in json.loads((out / "levers.json").read_text())["rows"]}
    assert list(levers) == ["eager", "eager-bigbatch", "cuda-graph", "processes-2", "compile"]
    assert levers["eager"]["images_per_sec"] > 0 and levers["eager-bigbatch"]["batch"] == 16
    assert len(levers["processes-2"]["per_process"]) == 2 and all(levers["processes-2"]["per_process"])
    if not torch.cuda.is_available():
        assert "only on CUDA" in levers["cuda-graph"]["skipped"] and "only on CUDA" in levers["compile"]["skipped"]


def test_runs_per_gpu_auto_stops_where_another_process_adds_under_ten_percent():
    import levers

    rows = [{"lever": "eager", "images_per_sec": 2400}, {"lever": "processes-2", "images_per_sec": 4500},
            {"lever": "processes-4", "images_per_sec": 8200}, {"lever": "processes-8", "images_per_sec": 8700}]
    assert levers.auto_count(rows) == 4
    assert levers.auto_count(rows[:1]) is None  # no process figures: no choice
    assert levers.auto_count([rows[0], {"lever": "processes-4", "images_per_sec": 2500}]) == 1


def test_a_part_over_its_limit_is_stopped_and_says_so(tmp_path):
    cmd = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(120)"]
    info = gpu_check.run_part(cmd, tmp_path / "slow.log", timeout=2, env=dict(os.environ))
    assert info["timed_out"] and info["rc"] != 0 and info["seconds"] < 60
    log = (tmp_path / "slow.log").read_text()
    assert "started" in log and "stopped after the part's limit of 2 s" in log


def test_the_payload_puts_wheels_on_the_path_and_caches_into_the_home(tmp_path):
    payload = tmp_path / "payload"
    (payload / "wheels").mkdir(parents=True)
    with zipfile.ZipFile(payload / "wheels" / "carried_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("carried_pkg/__init__.py", "VALUE = 42\n")
    cached = payload / "home" / "cache" / "datasets" / "elpv-0123.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"decoded images")
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLCOMPARE_HOME": str(work / "home")}
    notes = gpu_check.install_payload(payload, work, env)
    assert notes == ["wheel carried_pkg-1.0-py3-none-any.whl", "cache elpv-0123.pt"]
    done = subprocess.run([sys.executable, "-c", "import carried_pkg; print(carried_pkg.VALUE)"], env=env,
                          capture_output=True, text=True)
    assert done.stdout.strip() == "42", done.stderr
    assert (work / "home" / "cache" / "datasets" / "elpv-0123.pt").read_bytes() == b"decoded images"


def test_a_missing_payload_is_no_error(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "TLCOMPARE_HOME": str(tmp_path / "home")}
    assert gpu_check.install_payload(tmp_path / "absent", tmp_path, env) == []
    assert env["PYTHONPATH"] == str(ROOT)


BLOCKED = """
import sys
for name in ("streamlit", "plotly", "elpv_dataset"):
    sys.modules[name] = None  # any import of these now fails
sys.path.insert(0, {bench!r})
import torch
torch.set_num_threads(1)
import tlcompare.cli, tlcompare.worker.process, tlcompare.analysis.verdict  # noqa: F401
import sweep, throughput  # noqa: F401
out = sweep.run_sweep({{"dataset": "digits", "model": "efficientnet_lite0", "image_size": 16, "sizes": [3], "freeze": [0],
                       "seeds": 1, "budget": "epochs", "epochs": 1, "device": "cpu"}})
assert out["runs"] == 2, out
loaded = [m for m in sys.modules if m.split(".")[0] in ("streamlit", "plotly") and sys.modules[m] is not None]
assert not loaded, loaded
print("ok")
"""


@pytest.mark.slow  # a one-epoch sweep in a process of its own
def test_the_engine_path_runs_without_streamlit_plotly_or_the_data_package(tmp_path):
    code = BLOCKED.format(bench=str(ROOT / "benchmarks"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


def test_elpv_counts_as_available_when_only_its_decoded_cache_is_here(monkeypatch):
    from tlcompare.data import builtin, dataset_info, load_dataset
    from tlcompare.data.cache import _save, cache_path

    monkeypatch.setitem(sys.modules, "elpv_dataset", None)  # the package is not installed
    assert dataset_info("elpv").unavailable_reason() is not None
    digits = builtin.load_digits()
    _save(digits, cache_path({"name": "elpv", "root": ""}))
    assert dataset_info("elpv").unavailable_reason() is None
    assert dataset_info("elpv4").unavailable_reason() is not None  # its own cache is still missing
    assert torch.equal(load_dataset("elpv").images, digits.images)
