"""How much CPU the dashboard's server process uses: with no tab, with an idle tab, and with a tab
watching a running experiment on Live.

Starts a real ``streamlit run app.py`` with its own TLCOMPARE_HOME, opens one headless Chromium tab
(Playwright) and reads the server process's CPU seconds (utime + stime in /proc/PID/stat, all its
threads) over a fixed window per scenario. The tab's own Chromium processes and the worker are not
counted: only what the server costs. Beside each figure: the CPU the rest of the machine used in the
same window (from /proc/stat), because on a shared machine a busy neighbour slows the server's
reruns, and the load average.

    .venv/bin/python benchmarks/server_cpu.py                       # this checkout, its config
    .venv/bin/python benchmarks/server_cpu.py --watcher auto        # with Streamlit's file watcher on
    .venv/bin/python benchmarks/server_cpu.py --root OTHER_CHECKOUT # another version of the dashboard

Scenarios: ``no_tab``; ``idle_new`` (New experiment loaded, estimate shown, nobody touching it);
``idle_history`` (History); ``watching`` (Live on a running digits experiment: 32 px, 5 and 20
images per class, long enough to outlast the window; cancelled afterwards); ``history_training``
(the tab on History while that experiment still trains; needs ``watching``). The throughput probe is
measured once before the server starts, so no scenario includes it.
"""

from __future__ import annotations

import argparse
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

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
# The browser tests' way to start a server and a browser, so both measure the same setup.
from test_dashboard_browser import CHROMIUM_ARGS, free_port, wait_for_health  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
WATCHING = ["--dataset", "digits", "--model", "efficientnet_lite0", "--sizes", "5,20", "--freeze", "0,all",
            "--seeds", "2", "--budget", "epochs", "--epochs", "60", "--image-size", "32", "--name", "Server CPU benchmark"]


def process_cpu_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (every core, every process)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def measure(pid: int, window: float) -> dict:
    server0, machine0, t0 = process_cpu_seconds(pid), machine_cpu_seconds(), time.monotonic()
    time.sleep(window)
    server1, machine1, elapsed = process_cpu_seconds(pid), machine_cpu_seconds(), time.monotonic() - t0
    server = server1 - server0
    return {
        "window_s": round(elapsed, 1),
        "server_cpu_s": round(server, 2),
        "server_percent_of_one_core": round(100 * server / elapsed, 2),
        "others_cores_busy": round((machine1 - machine0 - server) / elapsed, 2),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def settle(page, timeout: float = 120) -> None:
    """Until the current script run has finished (Streamlit's running indicator is gone)."""
    deadline = time.time() + timeout
    time.sleep(0.5)
    while time.time() < deadline and page.locator("[data-testid=stStatusWidget]").count():
        time.sleep(0.25)


def tlcompare_cli(root: Path, env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "tlcompare", *args], cwd=root, env=env, check=True,
                          capture_output=True, text=True).stdout


def stop_workers(root: Path, env: dict) -> None:
    """Cancel the benchmark's experiment and stop its worker (politely, then for sure)."""
    code = ("from tlcompare.store import Store\n"
            "s = Store()\n"
            "[s.request_cancel(e['id']) for e in s.list_experiments()]\n"
            "s.request_worker_stop()\n"
            "print(' '.join(str(w['pid']) for w in s.list_workers() if w['alive'] and w['pid']))\n")
    pids = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True).stdout.split()
    deadline = time.time() + 20
    for pid in map(int, pids):
        while time.time() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=HERE, help="the checkout whose app.py to serve (default: this one)")
    ap.add_argument("--watcher", choices=["config", "auto", "none"], default="config",
                    help="server.fileWatcherType: as the checkout's config says, or forced")
    ap.add_argument("--window", type=float, default=45.0, help="seconds measured per scenario")
    ap.add_argument("--scenarios", default="no_tab,idle_new,idle_history,watching,history_training")
    ap.add_argument("--out", type=Path, default=HERE / "benchmarks" / "out" / "server_cpu.json")
    args = ap.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    root = args.root.resolve()
    home = Path(tempfile.mkdtemp(prefix="server-cpu-"))
    # Streamlit and the CLI import the served checkout's tlcompare; nothing is written into it.
    env = dict(os.environ, TLCOMPARE_HOME=str(home), PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1")
    # The probe result the New experiment page needs, measured here before the server starts.
    subprocess.run([sys.executable, "-c", "from tlcompare.estimate.runtime import cached_throughput as c;"
                    "c('efficientnet_lite0', 32, 64, 'auto')"], cwd=root, env=env, check=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    if args.watcher != "config":
        cmd += ["--server.fileWatcherType", args.watcher]
    log = home / "streamlit.log"
    with log.open("wb") as out:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    results: dict = {"root": "this checkout" if root == HERE else "other checkout", "watcher": args.watcher,
                     "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "scenarios": {}}
    wanted = args.scenarios.split(",")
    try:
        wait_for_health(url, server, log, timeout=180)
        if "no_tab" in wanted:
            results["scenarios"]["no_tab"] = measure(server.pid, args.window)
            print("no_tab", results["scenarios"]["no_tab"], flush=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(180_000)
            for name, path, ready in (("idle_new", "", "Estimated time"), ("idle_history", "history", "History")):
                if name not in wanted:
                    continue
                page.goto(f"{url}/{path}")
                page.get_by_text(ready).first.wait_for()
                settle(page)
                time.sleep(5)  # whatever the page started (a background measurement, a first poll) ends
                results["scenarios"][name] = measure(server.pid, args.window)
                print(name, results["scenarios"][name], flush=True)
            if "watching" in wanted:
                tlcompare_cli(root, env, "submit", *WATCHING, "--start-worker")
                page.goto(f"{url}/live?exp=1")
                page.get_by_text(re.compile(r"Training .*: epoch \d+ of")).first.wait_for()  # the page polls a training run
                settle(page)
                results["scenarios"]["watching"] = measure(server.pid, args.window)
                print("watching", results["scenarios"]["watching"], flush=True)
                if "history_training" in wanted:  # the same experiment still training, the tab elsewhere
                    page.goto(f"{url}/history")
                    page.get_by_text("History").first.wait_for()
                    settle(page)
                    time.sleep(5)
                    results["scenarios"]["history_training"] = measure(server.pid, args.window)
                    print("history_training", results["scenarios"]["history_training"], flush=True)
            browser.close()
    finally:
        stop_workers(root, env)
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        results["inotify_overflow_lines"] = log.read_text(errors="replace").count("Inotify queue overflowed")
        shutil.rmtree(home, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
