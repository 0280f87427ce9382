"""What the Ray executor costs and gains on this machine (docs/scale-out.md).

1. Dispatch overhead: the same tiny runs through a local `tlcompare worker` and through a one-actor
   Ray driver; the difference of the per-run span (first claim to last result, over N runs) is
   what sending a run to an actor and streaming its records back costs.
2. Speed-up: one Ray node with one CPU against two nodes on loopback with one CPU each.

Every store is fresh (nothing reused). Run: `python benchmarks/ray_scale.py [--runs 12]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {"OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
       "TLCOMPARE_POLL_SECONDS": "0.2", "TLCOMPARE_HEARTBEAT_SECONDS": "0.5"}


def tlc(home: Path, *args) -> str:
    r = subprocess.run([sys.executable, "-m", "tlcompare", *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, **ENV, "TLCOMPARE_HOME": str(home)}, check=False)
    if r.returncode:
        raise SystemExit(f"tlcompare {' '.join(map(str, args))} failed: {r.stderr[-2000:]}")
    return r.stdout


def submit(home: Path, runs: int, epochs: int, image_size: int) -> int:
    seeds = list(range(runs // 2))
    spec = dict(dataset="digits", model="efficientnet_lite0", sizes=[5], freeze=[0], seeds=seeds, budget="epochs",
                epochs=epochs, image_size=image_size, batch_size=32, device="cpu")
    path = home / "exp.toml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in spec.items()))
    return int(tlc(home, "submit", path).strip())


def span(home: Path, exp: int) -> dict:
    code = ("import json,sys; from tlcompare.store import Store; rs=Store().experiment_runs(int(sys.argv[1]));"
            "print(json.dumps([[r['status'], r['started_at'], r['finished_at'], r['final'].get('train_seconds')] "
            "for r in rs]))")
    out = subprocess.run([sys.executable, "-c", code, str(exp)], capture_output=True, text=True, check=True,
                         env={**os.environ, "TLCOMPARE_HOME": str(home)}).stdout
    rows = json.loads(out)
    assert all(r[0] == "done" for r in rows), rows
    return {"runs": len(rows), "span_s": max(r[2] for r in rows) - min(r[1] for r in rows),
            "train_s": sum(r[3] for r in rows)}


def timed(home: Path, *worker_args) -> float:
    start = time.perf_counter()
    tlc(home, "worker", "--once", *worker_args)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def loopback_cluster(nodes: int, tmp: Path):
    port = free_port()
    ray_bin = str(Path(sys.executable).with_name("ray"))
    procs = []
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for i in range(nodes):
            role = ["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", str(tmp / "t")] \
                if i == 0 else ["--address", f"127.0.0.1:{port}"]
            with open(tmp / f"node{i}.log", "w") as log:
                procs.append(subprocess.Popen(
                    [ray_bin, "start", *role, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block",
                     "--disable-usage-stats", "--object-store-memory", str(200 * 2**20)],
                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENV}, start_new_session=True))
            time.sleep(15)  # a node registers within a few seconds on an idle machine
        yield f"127.0.0.1:{port}"
    finally:
        for p in reversed(procs):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=12)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tlcompare-ray-bench-"))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    local_home, ray_home = tmp / "local", tmp / "ray1"
    exp = submit(local_home, args.runs, epochs=1, image_size=16)
    local_wall = timed(local_home)
    local = span(local_home, exp)
    exp = submit(ray_home, args.runs, epochs=1, image_size=16)
    ray_wall = timed(ray_home, "--executor", "ray", "--local-cpus", "1", "--actors", "1")
    remote = span(ray_home, exp)
    per_local, per_ray = local["span_s"] / local["runs"], remote["span_s"] / remote["runs"]
    print("\n## Dispatch overhead (tiny runs, 1 epoch)")
    print("| executor | runs | wall incl. start-up | first claim to last result | per run |")
    print("|---|---|---|---|---|")
    print(f"| local worker | {local['runs']} | {local_wall:.1f} s | {local['span_s']:.1f} s | {per_local * 1000:.0f} ms |")
    print(f"| Ray, 1 actor | {remote['runs']} | {ray_wall:.1f} s | {remote['span_s']:.1f} s | {per_ray * 1000:.0f} ms |")
    overhead = (per_ray - per_local) * 1000
    print(f"\nper-run dispatch overhead: {overhead:.0f} ms ({overhead / 10_000:.1%} of a 10-second run); "
          f"Ray start-up and first actor: {ray_wall - remote['span_s'] - (local_wall - local['span_s']):.1f} s more "
          "than a local worker's start")

    print("\n## One node vs two (loopback, 1 CPU each, 5-epoch runs at 32 px)")
    print("| nodes | runs | first claim to last result | sum of training time |")
    print("|---|---|---|---|")
    spans = {}
    for nodes in (1, 2):
        home = tmp / f"nodes{nodes}"
        exp = submit(home, 8, epochs=5, image_size=32)
        with loopback_cluster(nodes, tmp / f"c{nodes}") as address:
            timed(home, "--executor", "ray", "--address", address)
        spans[nodes] = span(home, exp)
        print(f"| {nodes} | {spans[nodes]['runs']} | {spans[nodes]['span_s']:.1f} s | {spans[nodes]['train_s']:.1f} s |")
    print(f"\nspeed-up, 2 nodes vs 1: {spans[1]['span_s'] / spans[2]['span_s']:.2f}x; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
