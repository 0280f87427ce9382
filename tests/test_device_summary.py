"""The sidebar's device lines: asked of a real child process once per machine and setting, then read
from the cache, so a dashboard that starts again does not wait seconds for torch to import."""

import subprocess

import pytest

from tlcompare import device_summary as ds


def _no_child(*args, **kwargs):
    raise AssertionError("the child process was started again")


@pytest.mark.slow  # the child imports torch
def test_the_child_answers_once_and_the_cache_after(tlcompare_home, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    answer = ds.device_summary()
    assert answer["name"] != "unknown" and set(answer) == {"gpu", "name", "detail"}
    if not answer["gpu"]:
        assert answer == {"gpu": False, "name": "CPU only", "detail": "1 thread · no GPU found"}
    assert (tlcompare_home / "cache" / "device.json").exists()
    monkeypatch.setattr(ds.subprocess, "run", _no_child)
    assert ds.device_summary() == answer  # the same machine and setting: from the cache


def test_another_setting_asks_again_and_a_failing_child_is_not_kept(tlcompare_home, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ds._write({ds.key(): {"gpu": False, "name": "CPU only", "detail": "4 threads · no GPU found"}})
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        raise subprocess.CalledProcessError(1, args[0])

    monkeypatch.setattr(ds.subprocess, "run", failing)
    assert ds.device_summary()["detail"] == "4 threads · no GPU found" and not calls
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # GPUs shown to the process changed: ask again
    assert ds.device_summary() == ds.UNKNOWN and len(calls) == 1
    assert ds.device_summary() == ds.UNKNOWN and len(calls) == 2  # a failure is never kept
    assert len(ds._read()) == 1


def test_a_damaged_cache_is_asked_again(tlcompare_home, monkeypatch):
    (tlcompare_home / "cache").mkdir(parents=True, exist_ok=True)
    (tlcompare_home / "cache" / "device.json").write_text("[1, 2")
    monkeypatch.setattr(ds.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, '{"gpu": false, "name": "CPU only", "detail": "2 threads · no GPU found"}\n', ""))
    assert ds.device_summary()["detail"] == "2 threads · no GPU found"
    assert list(ds._read().values()) == [{"gpu": False, "name": "CPU only", "detail": "2 threads · no GPU found"}]
