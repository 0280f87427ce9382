"""Torch's CPU threads: how many a run gets (the free cores), chosen in the processes that train, and
how idle ones wait (OpenMP's default unless the user set one), noted before torch loads and recorded
with every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tlcompare import threads


def test_a_run_gets_the_cores_others_leave_free():
    assert threads.threads_for(2, 0.0) == 2
    assert threads.threads_for(2, 0.4) == 2  # a core more than half free counts
    assert threads.threads_for(2, 0.6) == 1
    assert threads.threads_for(2, 2.0) == 1  # never none: a busy machine still trains, on a share
    assert threads.threads_for(2, 7.5) == 1
    assert threads.threads_for(16, 3.2) == 13
    assert threads.threads_for(4, None) == 4  # load unknown: every core, as torch would


def test_a_thread_count_the_user_fixed_wins(monkeypatch):
    monkeypatch.delenv("TLCOMPARE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.fixed_threads() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # one count per nesting level: the first is torch's
    assert threads.fixed_threads() == 4
    monkeypatch.setenv("TLCOMPARE_THREADS", "3")
    assert threads.fixed_threads() == 3
    choice = threads.choose_run_threads("cpu")
    assert choice.threads == 3 and choice.fixed_by_user and choice.others_busy_cores is None
    import torch

    assert torch.get_num_threads() == 3


def test_busy_cores_of_other_processes_leave_fewer_threads(monkeypatch):
    """Real busy-looping processes, one per core: the choice sees them and keeps to one thread."""
    monkeypatch.delenv("TLCOMPARE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    import torch

    before = torch.get_num_threads()
    cores = threads.usable_cores()
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        import time

        time.sleep(0.5)  # running, not starting
        choice = threads.choose_run_threads("cpu")
    finally:
        for p in spinners:
            p.kill()
            p.wait()
        torch.set_num_threads(before)
    assert choice.others_busy_cores >= 0.75 * cores  # every core busy with a spinner (and whatever else runs)
    assert choice.threads == threads.threads_for(cores, choice.others_busy_cores) == 1
    assert choice.cores == cores and not choice.fixed_by_user


def test_a_gpu_run_keeps_torchs_count_without_sampling(monkeypatch):
    monkeypatch.delenv("TLCOMPARE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "others_busy_cores", lambda *a: pytest.fail("a GPU run samples no load"))
    import torch

    assert threads.choose_run_threads("cuda").threads == torch.get_num_threads()


def _python(code: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_the_wait_policy_is_left_to_openmp_and_recorded_as_torch_read_it():
    record_then_import = ("import os; from tlcompare.threads import record_wait_policy, wait_policy; "
                          "record_wait_policy(); import torch; print(os.environ.get('OMP_WAIT_POLICY'), wait_policy())")
    # Measured (docs/benchmarks.md): PASSIVE cost 1.8x per step on a quiet machine, so none is set.
    assert _python(record_then_import) == "None DEFAULT"
    assert _python(record_then_import, OMP_WAIT_POLICY="passive") == "passive PASSIVE"  # the user's own
    # Changed after torch loaded: the record keeps what OpenMP read at the start.
    changed_late = ("import os; from tlcompare.threads import record_wait_policy, wait_policy; record_wait_policy(); "
                    "import torch; os.environ['OMP_WAIT_POLICY'] = 'ACTIVE'; print(wait_policy())")
    assert _python(changed_late) == "DEFAULT"


def test_the_entry_points_do_not_load_torch_before_setting_it():
    """The CLI and the probe's process import their modules before main runs: none of them may load torch."""
    assert _python("import sys, tlcompare.cli, tlcompare.estimate.background; print('torch' in sys.modules)") == "False"


@pytest.mark.slow
def test_tlcompare_run_records_each_runs_thread_choice(tmp_path, tlcompare_home):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "TLCOMPARE_THREADS", "OMP_NUM_THREADS")}
    out = tmp_path / "res.json"
    p = subprocess.run([sys.executable, "-m", "tlcompare", "run", "--dataset", "digits", "--sizes", "2", "--freeze", "all",
                        "--seeds", "1", "--budget", "epochs", "--epochs", "1", "--image-size", "16", "--device", "cpu",
                        "--out", str(out)], env={**env, "TLCOMPARE_HOME": str(tlcompare_home)}, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    (exp,) = json.loads(out.read_text())["experiments"]
    assert exp["environment"]["omp_wait_policy"] == "DEFAULT"
    assert exp["environment"]["thread_choice"]["wait_policy"] == "DEFAULT"
    for run in exp["runs"]:
        choice = run["thread_choice"]
        assert choice["wait_policy"] == "DEFAULT" and not choice["fixed_by_user"]
        assert choice["threads"] == run["threads"] == threads.threads_for(choice["cores"], choice["others_busy_cores"])
        assert run["machine"].endswith(f"({run['threads']} thread{'s' if run['threads'] > 1 else ''})")
