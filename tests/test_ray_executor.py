"""The Ray executor on real Ray clusters of this machine: a local one started by the driver, and two
nodes joined over loopback (`ray start`), each with one CPU and one logical GPU so that packing
(half a GPU per run) is exercised while the runs themselves fall back to the CPU.

The driver is the real `tlcompare worker --executor ray` process writing a real store; the tests
read the store as the dashboard does. Each test stops only the Ray processes it started.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import TIMING, free_port, tlc, wait_for

from tlcompare.store import Store
from tlcompare.worker.control import ray_cluster, stop_worker

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(autouse=True)
def fast_env(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TLCOMPARE_POLL_SECONDS", "0.2")
    monkeypatch.setenv("TLCOMPARE_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    # Loopback clusters of one test: Ray's token authentication would need the token handed to every
    # process; a real cluster keeps it (docs/scale-out.md).
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture
def submit(capsys):
    """``tlcompare submit``'s experiment id for a tiny digits spec; in this process (the driver is what is tested)."""

    def submit(tmp_path: Path, **values) -> int:
        spec = dict(dataset="digits", model="efficientnet_lite0", sizes=[5], freeze=[0], seeds=[0, 1], budget="epochs",
                    epochs=2, image_size=16, batch_size=32, device="cpu")
        spec.update(values)
        path = tmp_path / f"exp{time.monotonic_ns()}.toml"
        path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in spec.items()))
        r = tlc("submit", path, capsys=capsys)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.strip())

    return submit


def driver(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tlcompare", "worker", "--executor", "ray", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout=600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def runs(exp_id: int) -> list[dict]:
    return Store().experiment_runs(exp_id)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two Ray nodes on loopback: a head and a second node, 1 CPU + 1 logical GPU each."""
    tmp = tmp_path_factory.mktemp("ray")
    port = free_port()
    address = f"127.0.0.1:{port}"
    store_mb = ["--object-store-memory", str(200 * 2**20)]
    procs = [_ray_start(tmp / "head.log", "--head", "--port", str(port), "--include-dashboard", "false",
                        "--temp-dir", _short_temp(), *store_mb)]
    try:
        _wait_nodes(address, 1, tmp)
        procs.append(_ray_start(tmp / "node_b.log", "--address", address, "--resources", '{"node_b": 1}', *store_mb))
        _wait_nodes(address, 2, tmp)
        yield address
    finally:
        _stop_group(*procs)  # this test's processes only: each `ray start` leads its own session


def _short_temp() -> str:
    """A Ray session folder with a short path: its Unix sockets live under it and may not exceed 107
    bytes, which pytest's own temp folders (longer still under pytest-xdist's workers) overrun."""
    path = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    _TEMPS.append(path)
    return path


_TEMPS: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _remove_short_temps():
    yield
    while _TEMPS:
        shutil.rmtree(_TEMPS.pop(), ignore_errors=True)


def _ray_start(log_path: Path, *args) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    command = [str(Path(sys.executable).with_name("ray")), "start", *args, "--node-ip-address", "127.0.0.1",
               "--num-cpus", "1", "--num-gpus", "1", "--block", "--disable-usage-stats"]
    with open(log_path, "w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_nodes(address: str, n: int, tmp: Path) -> None:
    code = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
            "print(sum(1 for x in ray.nodes() if x['Alive']))")
    end = time.monotonic() + 240
    while time.monotonic() < end:
        r = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=120)
        if r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise AssertionError(f"the Ray cluster did not reach {n} node(s): {(tmp / 'head.log').read_text()[-2000:]}")


def _stop_group(*procs: subprocess.Popen, grace: float = 3) -> None:
    # `ray start --block` takes about 33 s to leave after SIGTERM (measured): a cluster a test is done
    # with is killed after a short grace, all its nodes at once (one grace, not one per node). A
    # cluster must not be killed under a running driver: killed at once, Ray's core worker ends the
    # driver process itself (exit code 1, no line of ours), which this suite does not claim to handle.
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        left = [p for p in procs if p.poll() is None]
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
        end = time.monotonic() + wait
        for p in left:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.0, end - time.monotonic()))
        if all(p.poll() is not None for p in procs):
            time.sleep(1)  # the group's other processes had the same signal: a moment to act on it
            break
    for p in procs:
        with contextlib.suppress(ProcessLookupError):  # children that outlived `ray start`, in its group
            os.killpg(p.pid, signal.SIGKILL)


def test_local_cluster_gives_the_local_executors_results(tmp_path, tlcompare_home, monkeypatch, submit):
    """No address: the driver starts a local CPU-only cluster; same seeds, same accuracies as `tlcompare worker`."""
    exp = submit(tmp_path)
    out = finish(driver("--local-cpus", "2", "--once"))
    assert "connected to a Ray cluster of 1 node(s), 0 GPU(s); 2 run(s) at once" in out
    remote = runs(exp)
    assert [r["status"] for r in remote] == ["done"] * 4
    assert all(r["node"]["pid"] != os.getpid() and r["node"]["device"] == "cpu" for r in remote)

    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path / "local-home"))  # a fresh store: nothing to reuse
    exp_local = submit(tmp_path)
    r = tlc("worker", "--once")
    assert r.returncode == 0, r.stderr
    local = runs(exp_local)
    for a, b in zip(remote, local, strict=True):
        assert (a["arm"], a["size"], a["seed"]) == (b["arm"], b["size"], b["seed"])
        assert a["final"]["test_acc"] == b["final"]["test_acc"]
        assert {k: v for k, v in a["final"].items() if k not in TIMING} == {
            k: v for k, v in b["final"].items() if k not in TIMING}


def test_runs_spread_over_two_nodes_with_packed_logical_gpus(tmp_path, cluster, submit):
    """Four slots (two nodes x one logical GPU x 2 runs per GPU); the sidebar shows them from the
    store while they run; a stop asked through the store ends the driver cleanly."""
    from dashboard_fixtures import seed_throughput
    from streamlit.testing.v1 import AppTest

    exp = submit(tmp_path, seeds=[0, 1, 2], epochs=4)
    proc = driver("--address", cluster, "--runs-per-gpu", "2")
    try:
        view = wait_for(lambda: (c := ray_cluster(Store())) and sum(len(s) for s in c["nodes"].values()) == 4 and
                        all(s["share"] for ss in c["nodes"].values() for s in ss) and c,
                        300, "four slots in the cluster view", every=0.3)
        assert len(view["nodes"]) == 2 and all(len(slots) == 2 for slots in view["nodes"].values())
        assert {s["share"] for ss in view["nodes"].values() for s in ss} == {"GPU 0"}  # each node's own GPU 0
        seed_throughput()
        at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60).run()
        assert not at.exception
        sidebar = "\n".join(m.value for m in at.sidebar.markdown)
        assert "Ray cluster** · 2 nodes, 4 run slots" in sidebar
        wait_for(lambda: Store().is_finished(exp), 600, "the experiment to finish", every=0.3)
        assert stop_worker(view["worker_id"], Store()) == 1
        out = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "connected to a Ray cluster of 2 node(s), 2 GPU(s); 4 run(s) at once" in out
    done = runs(exp)
    assert [r["status"] for r in done] == ["done"] * 6
    nodes = {r["node"]["node_id"] for r in done}
    assert len(nodes) == 2, nodes
    assert all(r["node"]["gpu_ids"] for r in done)  # each held a logical GPU share
    assert all(r["node"]["device"] == "cpu" for r in done)  # and trained on the CPU: no CUDA here
    assert ray_cluster(Store()) is None  # the driver said it exited


def test_a_killed_ray_worker_is_retried_and_a_killed_driver_resumed(tmp_path, cluster, submit):
    # 20 epochs: each run is still training when the test kills its process, then its driver (a poll later).
    exp = submit(tmp_path, epochs=20, seeds=[0])
    first = driver("--address", cluster, "--actors", "2")
    try:
        # Kill the process training a run, mid-run: the driver replaces it and the run trains again.
        run = wait_for(lambda: next((r for r in runs(exp) if r["status"] == "running" and len(r["epochs"]) >= 1), None),
                       300, "a run past its first epoch", every=0.3)
        os.kill(int(re.search(r"pid (\d+)", run["device"]).group(1)), signal.SIGKILL)
        wait_for(lambda: next(r for r in runs(exp) if r["run_id"] == run["run_id"])["attempts"] >= 2, 300,
                 "the killed run to be taken again", every=0.3)
        # Now kill the driver itself: its runs stay 'running' until the next worker recovers them.
        wait_for(lambda: any(r["status"] == "running" for r in runs(exp)), 300, "a run to start", every=0.3)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    finish(driver("--address", cluster, "--actors", "2", "--once"))
    final = runs(exp)
    assert [r["status"] for r in final] == ["done", "done"]
    assert next(r for r in final if r["run_id"] == run["run_id"])["attempts"] >= 2
    assert max(r["attempts"] for r in final) >= 2


def test_cancel_reaches_a_remote_run_within_an_epoch(tmp_path, cluster, submit, capsys):
    # Fine-tuning, not a linear probe: a probe on cached features can finish 300 epochs in seconds.
    exp = submit(tmp_path, epochs=300, seeds=[0], freeze=[0])
    proc = driver("--address", cluster, "--actors", "1", "--once")
    try:
        wait_for(lambda: any(r["status"] == "running" and len(r["epochs"]) >= 2 for r in runs(exp)), 300,
                 "a run past its second epoch", every=0.3)
        r = tlc("cancel", exp, capsys=capsys)
        assert r.returncode == 0, r.stderr
        at_cancel = max(len(r["epochs"]) for r in runs(exp))
        finish(proc, timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    final = runs(exp)
    assert {r["status"] for r in final} == {"cancelled"}, [(r["label"], r["status"], len(r["epochs"]), r["reused_from"])
                                                          for r in final]
    assert max(len(r["epochs"]) for r in final) <= at_cancel + 2  # the epoch under way, and one in flight


def test_a_cluster_that_goes_away_is_one_clear_line_and_loses_nothing(tmp_path, tmp_path_factory, submit):
    tmp = tmp_path_factory.mktemp("gone")
    port = free_port()
    head = _ray_start(tmp / "head.log", "--head", "--port", str(port), "--include-dashboard", "false",
                      "--temp-dir", _short_temp(), "--object-store-memory", str(200 * 2**20))
    try:
        _wait_nodes(f"127.0.0.1:{port}", 1, tmp)
        exp = submit(tmp_path, epochs=300, seeds=[0], freeze=["all"])
        proc = driver("--address", f"127.0.0.1:{port}", "--actors", "1")
        try:
            wait_for(lambda: any(r["status"] == "running" and len(r["epochs"]) >= 2 for r in runs(exp)), 300,
                 "a run past its second epoch", every=0.3)
            # The cluster shuts down (SIGTERM, as a node that is stopped): the driver must notice by
            # itself. The head is killed only after the driver has left (the finally below).
            os.killpg(head.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        _stop_group(head)
    assert proc.returncode == 2, out[-2000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"tlcompare: error: lost the Ray cluster at 127.0.0.1:{port}"), out[-2000:]
    assert "went back to the queue" in last
    assert {r["status"] for r in runs(exp)} == {"interrupted", "queued"}  # nothing lost, ready for the next worker


def test_an_unreachable_cluster_is_one_clear_line(tmp_path):
    r = tlc("worker", "--executor", "ray", "--address", f"127.0.0.1:{free_port()}", "--once", timeout=300)
    assert r.returncode == 2
    assert "cannot reach a Ray cluster at 127.0.0.1:" in r.stderr
    assert "Traceback" not in r.stderr
