"""Every page and CLI command on stores of three shapes, filled through the store's own calls.

Shapes (no training: each run is claimed, started and finished with synthetic metrics through the
calls the worker makes, so the rows are exactly what a worker writes):

- ``small``: 3 experiments, 36 runs (3 variants x 2 sizes x 2 seeds each), 20 epochs per run;
- ``many``: 200 experiments, 6,000 runs (3 variants x 5 sizes x 2 seeds each), 20 epochs per run;
- ``wide``: 1 experiment of 320 runs (4 variants x 8 sizes x 10 seeds), 50 epochs per run.

Measured, median of ``--repeats`` (interleaved over the shapes):

- each page rendered headless with Streamlit's AppTest, cold: empty Streamlit caches and a fresh
  Store object (modules already imported and the sidebar's once-per-process device lookup done,
  as in a server that has served any page before); Results reads the label multiplier the store
  keeps (store/analyses.py, as after a worker finished the experiment), and is also rendered with
  none kept ("Results, multiplier not kept": computed on the page);
- Results switched to each other tab in turn (only the open tab is drawn, so a switch runs the page
  again: the median of the five), then its target slider moved (a widget interaction on a warm page);
- one idle Live poll on the wide experiment while its last run trains: what the polling fragment
  does every two seconds when nothing changed;
- ``tlcompare ls``, ``show`` and ``report --format md`` as subprocesses, and ``ls``'s imports;
- with ``--memory``: a real ``streamlit run`` server on the many-experiment store, History and
  Results opened in headless Chromium, then the server's resident memory;
- with ``--browser``: Results of each shape's last experiment in headless Chromium at 1280x720 on a
  warm server: the first chart after the heading (also in presentation view), and each tab switch
  until its chart is drawn.

    python benchmarks/store_scale.py [--repeats 3] [--memory] [--browser] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = {"History": "pages/history.py", "Live": "pages/live.py", "Results": "pages/results.py",
         "Report": "pages/report.py"}
SHAPES = {
    # name: (experiments, sizes, seeds per experiment, pretrained depths, epochs)
    "small": (3, [2, 5], 2, [0, "all"], 20),
    "many": (200, [1, 2, 5, 10, 20], 2, [0, "all"], 20),
    "wide": (1, [1, 2, 5, 10, 20, 50, 100, 120], 10, [0, 2, "all"], 50),
}
N_TEST, N_CLASSES = 360, 10


# -- filling ---------------------------------------------------------------------------------------
def _metrics(arm: str, size: int, epoch: int, rng: random.Random) -> float:
    plateau = 0.3 + 0.6 * (1 - 1 / (1 + size / (5 if arm == "pretrained" else 40)))
    rate = 0.6 if arm == "pretrained" else 0.85
    return min(1.0, max(0.0, plateau * (1 - rate**epoch) + rng.gauss(0, 0.02)))


def _result(claimed: dict, epochs: int, rng: random.Random) -> tuple[list[dict], dict]:
    """Epoch records and a RunResult dict with every field a trained run has, sizes as on digits."""
    from tlcompare.store.correct_bits import pack_correct

    arm, size = claimed["arm"], claimed["size"]
    rows, elapsed = [], 0.0
    for e in range(1, epochs + 1):
        acc = _metrics(arm, size, e, rng)
        seconds = 0.05 * size + 0.2
        elapsed += seconds
        rows.append({"epoch": e, "train_loss": 2.3 * (1 - acc), "train_acc": min(1.0, acc + 0.05), "val_loss": 2.3 * (1 - acc),
                     "val_acc": acc, "val_balanced_acc": acc, "val_macro_f1": acc, "lr": 0.001, "head_lr": 0.001,
                     "train_seconds": seconds, "elapsed_train_seconds": elapsed, "eval_seconds": 0.05,
                     "images_per_sec": 400.0, "seconds_per_step": 0.02})
    acc = rows[-1]["val_acc"]
    right = round(acc * N_TEST)
    correct = [rng.random() < acc for _ in range(N_TEST)]
    confusion = [[0] * N_CLASSES for _ in range(N_CLASSES)]
    for i in range(N_TEST):
        t = i % N_CLASSES
        confusion[t][t if correct[i] else (t + 1) % N_CLASSES] += 1
    import numpy as np

    freeze = claimed["freeze"]
    result = {
        "arm": arm, "size": size, "seed": claimed["seed"], "freeze": freeze, "model": claimed["spec"]["model"],
        "config_hash": claimed["config_hash"], "status": "done", "device": "cpu",
        "trainable_params": 12_810 if freeze == "all" else 3_384_000, "total_params": 3_384_000,
        "frozen_stages": [], "pretrained_source": None if arm == "scratch" else "timm", "lr": 0.001,
        "n_train": size * N_CLASSES, "subset_hash": f"{size}-{claimed['seed']}", "batch_size": 64, "epochs": rows,
        "final": {"test_acc": right / N_TEST, "test_balanced_acc": right / N_TEST, "test_macro_f1": right / N_TEST,
                  "val_acc": acc, "train_acc": rows[-1]["train_acc"], "train_seconds": elapsed, "images_per_sec": 400.0,
                  "seconds_per_step": 0.02, "best_epoch": epochs},
        "confusion": confusion, "per_class_acc": [c[i] / max(1, sum(c)) for i, c in enumerate(confusion)],
        "misclassified": [{"index": i, "true": i % N_CLASSES, "pred": (i + 1) % N_CLASSES} for i in range(N_TEST)
                          if not correct[i]][:32],
        "test_correct": pack_correct(np.array(correct, dtype=bool)), "error": None, "oom_retries": 0,
        "feature_cache": None, "head_lr": 0.001, "budget": "epochs", "steps_done": epochs * 3, "epochs_done": epochs,
        "stop_reason": "epochs", "machine": "bench", "threads": 1,
    }
    return rows, result


def fill(path: Path, shape: str, leave_running: int = 0) -> list[int]:
    """Queue the shape's experiments and finish every run through the worker's store calls; the last
    ``leave_running`` runs are left training (claimed, with half their epochs written)."""
    from tlcompare.spec import build_spec
    from tlcompare.store import Store

    try:
        from tlcompare.store.headlines import store_when_finished
    except ImportError:  # before headlines were kept in the store
        store_when_finished = None

    n_exp, sizes, seeds, freeze, epochs = SHAPES[shape]
    store = Store(path)
    rng = random.Random(0)
    ids = []
    for i in range(n_exp):
        spec = build_spec({"dataset": "digits", "model": "efficientnet_lite0", "sizes": sizes, "freeze": freeze,
                           "seeds": list(range(seeds * i, seeds * (i + 1))), "budget": "epochs", "epochs": epochs,
                           "image_size": 32})
        ids.append(store.create_experiment(spec, name=f"{shape} {i + 1}"))
    total = sum(s["n_runs"] for s in store.list_experiments())
    environment = {"device": "cpu", "class_names": [str(c) for c in range(N_CLASSES)], "n_test": N_TEST}
    done = 0
    while True:
        claimed = store.claim("bench-worker")
        if claimed is None:
            break
        rows, result = _result(claimed, epochs, rng)
        store.run_started(claimed["run_id"], "bench-worker", claimed["attempt"], "cpu", environment)
        if done >= total - leave_running:
            for row in rows[: epochs // 2]:
                store.add_epoch(claimed["run_id"], "bench-worker", claimed["attempt"], row)
            continue
        store.finish_run(claimed["run_id"], "bench-worker", claimed["attempt"], result)
        if store_when_finished is not None:  # as the worker does after each run
            store_when_finished(store, claimed["experiment_id"])
        done += 1
    store.close()
    return ids


# -- measuring -------------------------------------------------------------------------------------
@functools.cache
def _components():
    from streamlit.components.v2.component_manager import BidiComponentManager

    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    return manager


def render_page(page: str, query: dict | None = None):
    """(AppTest, seconds) of one cold render of ``page``."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    # The sidebar's device lookup (a child process that imports torch) is once per server process,
    # not per page: done here, untimed.
    from ui.sidebar import device_summary

    device_summary()
    at = AppTest.from_file(APP, default_timeout=600)
    # A server scans the installed packages for custom components once, when it starts; AppTest does it
    # on each new AppTest's first run (about 0.25 s here): scanned once, untimed, and handed to each.
    if hasattr(at, "_bidi_component_manager"):
        at._bidi_component_manager = _components()
    at.query_params.update(query or {})
    at.switch_page(page)
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    title = Path(page).stem.replace("_", " ").capitalize()
    if [t.value for t in at.title] != [title]:
        raise RuntimeError(f"{page} rendered {[t.value for t in at.title]}, not {title}")
    return at, seconds


RESULTS_TABS = ("Freezing depth", "Learning curves", "Overfitting", "Time", "Mistakes")


def tab_switches(at) -> float:
    """The median seconds of switching Results to each other tab, one after the other (as a click
    does: the page runs again and draws that tab only); ends on the Time tab, where the slider is."""
    times = []
    for tab in (*[t for t in RESULTS_TABS if t != "Time"], "Time"):
        at.query_params["tab"] = tab  # the address names the open tab, as after a click
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        if at.exception:
            raise RuntimeError(f"Results, tab {tab}: {[e.value for e in at.exception]}")
        if tab == "Time" and not at.slider:
            raise RuntimeError("Results: the Time tab did not open")
    return statistics.median(times)


def slider_move(at) -> float:
    sliders = [s for s in at.slider if str(s.key).startswith("target_")]
    if not sliders:
        return float("nan")
    t0 = time.perf_counter()
    sliders[0].set_value(sliders[0].value - 5.0).run()
    return time.perf_counter() - t0


def idle_poll_seconds(home: Path, experiment_id: int, repeats: int = 20) -> float:
    """The median cost of the Live fragment's work when nothing changed since the previous poll."""
    os.environ["TLCOMPARE_HOME"] = str(home)
    from tlcompare.store import Store

    store = Store(home / "tlcompare.db")
    try:
        poll = _idle_poll(store, experiment_id)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            poll()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        store.close()


def _idle_poll(store, experiment_id: int):
    """What one poll of the Live page does when nothing changed (the worker check included)."""
    from tlcompare.worker.control import worker_state

    try:
        from tlcompare.live.view import refresh
    except ImportError:  # before the change stamp: every poll read and drew everything again
        from tlcompare.analysis.frames import epochs_frame
        from tlcompare.charts import figures as charts
        from tlcompare.live.table import runs_table

        def poll():
            store.experiment_progress(experiment_id)
            runs = store.experiment_runs(experiment_id)
            worker_state(store=store)
            charts.live_curves(epochs_frame(runs)).to_plotly_json()
            runs_table(runs, "50")
        return poll
    view = refresh(store, experiment_id, None, "50")  # the first poll reads everything

    def poll():
        refresh(store, experiment_id, view, "50")
        worker_state(store=store)
    return poll


def cli_seconds(home: Path, args: list[str]) -> float:
    env = dict(os.environ, TLCOMPARE_HOME=str(home), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tlcompare", *args], env=env, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def ls_imports(home: Path) -> dict:
    """Whether ``tlcompare ls`` imports torch or pandas, and its total import time (``-X importtime``)."""
    env = dict(os.environ, TLCOMPARE_HOME=str(home), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "tlcompare", "ls"], env=env, check=True,
                         capture_output=True, text=True, cwd=ROOT).stderr
    names, total = set(), 0
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        names.add(name.strip())
        if not name[1:].startswith(" "):  # a top-level import: its cumulative time counts once
            total += int(cumulative)
    return {"torch": "torch" in names, "pandas": "pandas" in names, "streamlit": "streamlit" in names,
            "import_seconds": total / 1e6}


def server_memory(home: Path, experiment_id: int) -> dict:
    """Resident memory of a real ``streamlit run`` server after History and Results render in Chromium."""
    import shutil

    from playwright.sync_api import sync_playwright

    with _server(home) as (url, pid):
        before = _rss_mb(pid)
        seen = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            # The last thing each page draws: History's table, the confusion matrices on Results' Mistakes tab.
            for name, path, last in (("History", "history", "[data-testid=stDataFrame]"),
                                     ("Results", f"results?exp={experiment_id}&tab=Mistakes", "[data-testid=stPlotlyChart]")):
                t0 = time.perf_counter()
                page.goto(f"{url}/{path}")
                page.get_by_role("heading", name=name).first.wait_for(timeout=300_000)
                page.locator(last).first.wait_for(state="attached", timeout=300_000)
                _settle(page)
                seen[name] = time.perf_counter() - t0
                seen[f"rss_mb after {name}"] = _rss_mb(pid)
                seen[f"torch imported after {name}"] = _imports_torch(pid)
            rss = _rss_mb(pid)
            browser.close()
        return {"rss_mb_idle": before, "rss_mb": rss, "browser_seconds": seen}


def browser_timings(home: Path, experiment_id: int, repeats: int = 3) -> dict:
    """What a user waits for in Chromium on a warm server (History opened first): from Results' heading
    to its first chart drawn, the same in presentation view (its heading is the verdict), and a click
    on each other tab until that tab's chart is drawn and the page idle. Medians over ``repeats``."""
    import shutil

    from playwright.sync_api import sync_playwright

    chart = "[data-testid=stPlotlyChart] .main-svg"
    out: dict = {}
    with _server(home) as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{url}/history")
        page.get_by_role("heading", name="History").first.wait_for(timeout=300_000)
        _settle(page)
        samples: dict = {}
        for _ in range(repeats):
            for view, query, heading in (("normal", "", page.get_by_role("heading", name="Results", level=1)),
                                         ("presentation", "&present=1", page.locator("[data-testid=stMain] h3"))):
                page.goto(f"{url}/history")  # away, so Results is drawn anew (its analysis stays cached)
                page.get_by_role("heading", name="History").first.wait_for(timeout=300_000)
                t0 = time.perf_counter()
                page.goto(f"{url}/results?exp={experiment_id}{query}")
                heading.first.wait_for(timeout=300_000)
                t1 = time.perf_counter()
                page.locator(chart).first.wait_for(timeout=300_000)
                t2 = time.perf_counter()
                _settle(page)
                samples.setdefault(f"{view}: heading after opening (s)", []).append(t1 - t0)
                samples.setdefault(f"{view}: first chart after the heading (s)", []).append(t2 - t1)
                samples.setdefault(f"{view}: page idle after opening (s)", []).append(time.perf_counter() - t0)
            for tab in ("Freezing depth", "Learning curves", "Overfitting", "Time", "Mistakes", "The answer"):
                t0 = time.perf_counter()
                page.get_by_role("tab", name=tab).click()
                page.locator(f"[role=tabpanel]:not([hidden]) {chart}").first.wait_for(timeout=300_000)
                t1 = time.perf_counter()
                _settle(page)
                samples.setdefault("tab switch: chart drawn after the click (s)", []).append(t1 - t0)
                samples.setdefault("tab switch: page idle after the click (s)", []).append(time.perf_counter() - t0)
        browser.close()
    # The first look is cold (the server computes the analysis); later ones read its cache.
    for name, values in samples.items():
        out[name] = {"first": values[0], "median": statistics.median(values), "max": max(values), "n": len(values)}
    return out


@contextlib.contextmanager
def _server(home: Path):
    """A ``streamlit run`` server of the dashboard on ``home``; yields its address and process id."""
    import signal
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, TLCOMPARE_HOME=str(home), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    streamlit = Path(sys.executable).with_name("streamlit")
    proc = subprocess.Popen([str(streamlit), "run", "app.py", "--server.headless", "true", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _settle(page, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    time.sleep(0.5)
    while time.time() < deadline:
        if page.locator("[data-testid=stStatusWidget]").count() == 0 and page.locator("[data-testid=stSkeleton]").count() == 0:
            return
        time.sleep(0.25)


def _imports_torch(pid: int) -> bool:
    """Whether the process has torch's shared library mapped (it is loaded with ``import torch``)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _forget_kept(home: Path) -> None:
    """Drop the multipliers the store keeps (store/analyses.py): Results must compute them."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "tlcompare.db")) as con, con:
        con.execute("DELETE FROM analyses")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also measure a real server's memory (needs Chromium)")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--json", help="write the figures here as JSON")
    parser.add_argument("--browser", action="store_true",
                        help="also time Results in Chromium on each shape's last experiment: first chart, tab switch")
    parser.add_argument("--keep", help="fill the stores under this folder, or reuse them when already there")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="store-scale-"))
    homes, ids = {}, {}
    for shape in shapes:
        home = base / shape
        homes[shape] = home
        marker = home / "ids.json"
        if not marker.exists():
            home.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            ids_shape = fill(home / "tlcompare.db", shape)
            marker.write_text(json.dumps(ids_shape))
            print(f"filled {shape} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        ids[shape] = json.loads(marker.read_text())
    live_home = base / "wide-live"
    if "wide" in shapes and not (live_home / "ids.json").exists():
        live_home.mkdir(parents=True, exist_ok=True)
        (live_home / "ids.json").write_text(json.dumps(fill(live_home / "tlcompare.db", "wide", leave_running=1)))

    figures: dict = {"pages": {}, "slider": {}, "cli": {}, "machine": _machine()}
    # Warm the imports once, untimed, so the first measured page does not pay for importing plotly.
    os.environ["TLCOMPARE_HOME"] = str(homes[shapes[0]])
    for page in PAGES.values():
        render_page(page, {"exp": str(ids[shapes[0]][-1])})
    samples: dict = {}
    for _ in range(args.repeats):
        for shape in shapes:
            os.environ["TLCOMPARE_HOME"] = str(homes[shape])
            exp = str(ids[shape][-1])
            for name, page in PAGES.items():
                at, seconds = render_page(page, {"exp": exp})
                samples.setdefault((shape, name), []).append(seconds)
                if name == "Results":
                    samples.setdefault((shape, "Results, tab switch (median of 5)"), []).append(tab_switches(at))
                    samples.setdefault((shape, "Results, slider move"), []).append(slider_move(at))
                    # The same first look with no multiplier kept in the store (computed, then kept again).
                    _forget_kept(homes[shape])
                    samples.setdefault((shape, "Results, multiplier not kept"), []).append(
                        render_page(page, {"exp": exp})[1])
            for cmd, argv in (("ls", ["ls"]), ("show", ["show", exp]),
                              ("report md", ["report", exp, "--format", "md", "--out", str(base / "r.md")])):
                samples.setdefault((shape, f"cli {cmd}"), []).append(cli_seconds(homes[shape], argv))
    for (shape, name), values in samples.items():
        figures["pages"].setdefault(name, {})[shape] = statistics.median(values)
    if "wide" in shapes:
        figures["idle_poll_ms"] = 1000 * idle_poll_seconds(live_home, json.loads((live_home / "ids.json").read_text())[0])
        os.environ["TLCOMPARE_HOME"] = str(homes["wide"])
    figures["ls_imports"] = ls_imports(homes[shapes[-1]])
    if args.browser:
        figures["browser"] = {shape: browser_timings(homes[shape], ids[shape][-1]) for shape in shapes}
    if args.memory and "many" in shapes:
        figures["memory"] = server_memory(homes["many"], ids["many"][-1])
    _print(figures, shapes)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


def _machine() -> dict:
    import platform

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _print(figures: dict, shapes: list[str]) -> None:
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {figures['machine']}")
    print("| measured | " + " | ".join(shapes) + " |")
    print("|---|" + "---:|" * len(shapes))
    for name, per_shape in figures["pages"].items():
        print(f"| {name} | " + " | ".join(f"{per_shape.get(s, float('nan')):.2f} s" for s in shapes) + " |")
    if "idle_poll_ms" in figures:
        print(f"idle Live poll at 320 runs: {figures['idle_poll_ms']:.3f} ms")
    print(f"tlcompare ls imports: {figures['ls_imports']}")
    if "memory" in figures:
        print(f"server memory: {figures['memory']}")
    for shape, timings in figures.get("browser", {}).items():
        print(f"Results in Chromium, {shape} (1280x720, warm server; the first, cold look / median / max of n):")
        for name, t in timings.items():
            print(f"  {name}: {t['first']:.2f} / {t['median']:.2f} / {t['max']:.2f} (n={t['n']})")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
