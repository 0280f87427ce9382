"""Shared fixtures: stores trained for real (finished, cancelled, hostile names) and a dashboard server.

Registered once for the whole run by ``pytest_plugins`` in conftest.py: a test asks for a fixture by
its name and imports nothing. The trained stores are built through the worker the dashboard uses, once
per pytest run (``built_once``): every test then reads the same store without training again, also
a test module that still imports a fixture from here (pytest would register a second copy of it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tlcompare.estimate.runtime import Throughput, save_throughput

# name -> (what it built, seconds it took); conftest.py prints it at the end of the run.
BUILT: dict[str, tuple[object, float]] = {}
BUILDS: dict[str, int] = {}  # name -> how many times it was built: 1, whatever imports it


def built_once(name: str, build: Callable[[], object]):
    """``build()`` the first time ``name`` is asked for in this run, its result afterwards."""
    if name not in BUILT:
        BUILDS[name] = BUILDS.get(name, 0) + 1
        started = time.monotonic()
        BUILT[name] = (build(), time.monotonic() - started)
    return BUILT[name][0]

# Two sizes for the curves, two seeds for intervals, two depths for the freezing chart; 16 px and
# two epochs keep it to seconds per run on a laptop CPU.
TINY = dict(dataset="digits", model="efficientnet_lite0", sizes=[2, 5], seeds=2, freeze=[0, "all"], budget="epochs", epochs=2,
            image_size=16, name="Tiny digits")


def seed_throughput(model: str = "efficientnet_lite0", image_size: int = 32, batch_size: int | None = None) -> None:
    """A known probe result in the cache, so a page test never spends seconds measuring: for
    ``batch_size``, or by default for the form's default batch and every preset's."""
    from tlcompare.presets import PRESETS
    from tlcompare.spec import ExperimentSpec

    # The presets' values, not their specs: building a spec checks its sizes against the dataset, which
    # would decode ELPV and Fashion-MNIST into every test's home.
    default = ExperimentSpec().batch_size
    sizes = {batch_size} if batch_size else {default, *(p.values.get("batch_size", default) for p in PRESETS.values())}
    for size in sizes:
        save_throughput(Throughput(
            device="test", model=model, image_size=image_size, batch_size=size, step_overhead=0.02,
            image_seconds_full=0.003, image_seconds_head=0.001, eval_image_seconds=0.0005, build_seconds=0.3))


def seed_facts(dataset: str = "digits") -> None:
    """The dataset's facts, read here on its real split, in the cache the form reads (this process's,
    whatever TLCOMPARE_HOME a test sets later): a page test never waits for the background read
    (tests/test_facts_background.py and the form's own test exercise that read)."""
    from tlcompare.data.facts import dataset_facts
    from tlcompare.data.facts_background import question, save_facts
    from tlcompare.spec import ExperimentSpec

    split = ExperimentSpec()
    asked = question(dataset, None, split.val_fraction, split.test_fraction, split.split_seed)
    if asked not in _facts_read:
        _facts_read[asked] = dataset_facts(dataset, None, *asked[2:])
    save_facts(asked, _facts_read[asked])


_facts_read: dict = {}


def train_in(home: Path, queue) -> int:
    """Queue with ``queue(store) -> experiment id`` in a store under ``home``, then let a real worker
    train every queued run; return the id."""
    import torch

    from tlcompare.store import Store
    from tlcompare.worker.process import Worker, WorkerConfig

    # One thread: these runs are tiny, and on a busy CI machine OpenMP threads that wait for each
    # other's cores make them twenty times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TLCOMPARE_HOME", str(home))
            mp.setenv("TLCOMPARE_THREADS", "1")  # the worker's own thread choice keeps to it
            store = Store()
            experiment_id = queue(store)
            Worker(store, config=WorkerConfig(heartbeat_seconds=0.5, poll_seconds=0.1), log=lambda m: None).serve(once=True)
            store.close()
    finally:
        torch.set_num_threads(threads)
    return experiment_id


@pytest.fixture(scope="session")
def finished_home(tmp_path_factory) -> tuple[Path, int]:
    """(TLCOMPARE_HOME, experiment id) of a store with one finished experiment."""
    return built_once("finished_home", lambda: _finished_home(tmp_path_factory))


def _finished_home(tmp_path_factory) -> tuple[Path, int]:
    from tlcompare.spec import build_spec
    from tlcompare.store import Store

    home = tmp_path_factory.mktemp("finished-home")
    experiment_id = train_in(home, lambda store: store.create_experiment(build_spec(TINY)))
    assert Store(home / "tlcompare.db").get_experiment(experiment_id)["status"] == "done"
    return home, experiment_id


# Text that escapes its place: a terminal escape, a bidi override that flips what follows, a
# carriage return and newline that forge lines, Markdown links and images, HTML.
HOSTILE_NAME = "\x1b[2J\u202eEvil\rname\n[x](http://evil.example) <b>bold</b>"
HOSTILE_CLASSES = ("\u202egnp.exe", "\x1b[31mred", "[link](http:evil.example)", "two\nlines")


@pytest.fixture(scope="session")
def hostile_home(tmp_path_factory) -> tuple[Path, int, int]:
    """(TLCOMPARE_HOME, trained id, failed id): one experiment trained for real on class folders with
    hostile names under a hostile experiment name, and one whose folder (its path holds a Markdown
    image) vanished before the worker reached it, so its runs failed with that path in the error."""
    import shutil

    import torch
    from corpus import good_folder

    from tlcompare.spec import build_spec
    from tlcompare.store import Store
    from tlcompare.worker.process import Worker, WorkerConfig

    home = tmp_path_factory.mktemp("hostile-home")
    photos = good_folder(home / "photos", classes=HOSTILE_CLASSES, per_class=12)
    gone = good_folder(home / "![pic](http:" / "evil.example" / "x.png)", per_class=12)
    common = dict(model="efficientnet_lite0", sizes=[2], seeds=1, freeze=["all"], budget="epochs", epochs=1, image_size=16,
                  device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOMPARE_HOME", str(home))
        mp.setenv("TLCOMPARE_THREADS", "1")  # the worker's own thread choice keeps to it
        store = Store()
        trained = store.create_experiment(build_spec(dict(common, dataset=f"imagefolder:{photos}")), name=HOSTILE_NAME)
        failed = store.create_experiment(build_spec(dict(common, dataset=f"imagefolder:{gone}")), name="vanished folder")
        shutil.rmtree(home / "![pic](http:")
        Worker(store, config=WorkerConfig(heartbeat_seconds=0.5, poll_seconds=0.1), log=lambda m: None).serve(once=True)
        assert store.get_experiment(trained)["status"] == "done"
        assert store.get_experiment(failed)["status"] == "failed"
        store.close()
    torch.set_num_threads(threads)
    return home, trained, failed


@pytest.fixture(scope="session")
def cancelled_home(tmp_path_factory) -> tuple[Path, int]:
    """(TLCOMPARE_HOME, experiment id) of an experiment cancelled part-way: its linear probe was
    cancelled while queued, the worker then trained the scratch and fine-tune runs for real."""
    return built_once("cancelled_home", lambda: _cancelled_home(tmp_path_factory))


def _cancelled_home(tmp_path_factory) -> tuple[Path, int]:
    from tlcompare.spec import build_spec
    from tlcompare.store import Store

    def queue(store: Store) -> int:
        experiment_id = store.create_experiment(build_spec(dict(TINY, sizes=[2], seeds=1, name="Cancelled digits")))
        probe = next(r for r in store.experiment_runs(experiment_id) if r["freeze"] == "all")
        assert store.request_cancel_run(probe["run_id"]) == 1
        return experiment_id

    home = tmp_path_factory.mktemp("cancelled-home")
    experiment_id = train_in(home, queue)
    assert Store(home / "tlcompare.db").get_experiment(experiment_id)["status"] == "cancelled"
    return home, experiment_id


@pytest.fixture
def dashboard(tmp_path):
    """(base URL, TLCOMPARE_HOME) of a dashboard on a free port; stops it and its worker afterwards.
    Its first New experiment page measures the speed of the default backbone for real."""
    yield from _dashboard(tmp_path, seeded=False)


@pytest.fixture
def seeded_dashboard(tmp_path):
    """The same dashboard with the default backbone's speed already known (``seed_home``): for tests of
    the form and the pages, not of the first measurement (each measurement trains for about 20
    CPU-seconds)."""
    yield from _dashboard(tmp_path, seeded=True)


def seed_home(home: Path) -> Path:
    """``home`` with ``seed_throughput()``'s probe results and the default dataset's facts in its cache:
    its server starts neither the probe nor the facts' background read (a process that imports torch
    and decodes digits) for the form's defaults."""
    home.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOMPARE_HOME", str(home))
        seed_throughput()
        seed_facts()
        seed_device()
    return home


def seed_device() -> None:
    """This machine's device summary in the cache, as a server started with ``OMP_NUM_THREADS=1``
    (every test server) keys it: asked of the real child process once per pytest process."""
    from tlcompare import device_summary

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        answer = built_once("device summary", device_summary.device_summary)
        device_summary._write({**device_summary._read(), device_summary.key(): answer})


def _dashboard(tmp_path: Path, seeded: bool):
    import shutil

    from helpers import ARTIFACTS, streamlit_server

    home = tmp_path / "home"
    if seeded:
        seed_home(home)
    log = tmp_path / "streamlit.log"
    # The runs are tiny and Streamlit, Chromium and the worker share the machine's cores: one thread
    # per process avoids OpenMP threads spinning while they wait for a core.
    try:
        with streamlit_server(home, log, TLCOMPARE_POLL_SECONDS="0.2", OMP_NUM_THREADS="1") as url:
            try:
                yield url, home
            finally:
                _stop_worker(home)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if log.exists():
            shutil.copy(log, ARTIFACTS / "streamlit.log")


def _stop_worker(home: Path) -> None:
    """Stop the worker the dashboard started (its own process session): politely, then for sure."""
    import contextlib
    import os
    import signal

    from helpers import wait_for

    db = home / "tlcompare.db"
    if not db.exists():
        return
    from tlcompare.store import Store

    store = Store(db)
    store.request_worker_stop()

    def alive() -> list[int]:
        return [w["pid"] for w in store.list_workers() if w["alive"] and w["pid"]]

    with contextlib.suppress(AssertionError):
        wait_for(lambda: not alive(), 15, "the worker to stop", every=0.3)
    for pid in alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    store.close()
