import sys

import pytest

from tlcompare.threads import record_wait_policy

# Before any test module imports torch, as tlcompare's entry points do: runs record the wait policy
# OpenMP read (tlcompare/threads.py).
record_wait_policy()

# The shared fixtures (trained stores, the dashboard server), registered once for the whole run: a
# session fixture is then built once, not once per module that imports it. Tests ask for them by name.
pytest_plugins = ["dashboard_fixtures"]

# Fixtures whose use decides a test's tier: they train models, or start a server a browser drives.
TRAINS = {"finished_home", "cancelled_home", "hostile_home"}
SERVES = {"dashboard", "seeded_dashboard"}


# The modules that take longest (seconds of a quiet 2-core run, docs/benchmarks.md), longest first:
# `make test`'s two workers take whole modules in collection order, so these go first and the short
# ones fill the end, instead of the alphabet leaving test_worker to run alone at the end.
# test_training left the list when it stopped spinning OpenMP threads (102 s in the last suite run, 17 s
# alone at load 2-4), test_upload_browser when it stopped measuring first; the order after those cuts
# is from runs of single modules under load: check it against the next suite's --durations.
LONGEST = ("test_dashboard_browser", "test_worker", "test_ray_executor", "test_deep_links_browser", "test_dashboard_states",
           "test_dashboard_pages", "test_gpu_check", "test_benchmarks", "test_budget_worker", "test_report",
           "test_hardening", "test_damaged_store", "test_hostile_text")


def pytest_collection_modifyitems(items):
    """A test that uses a trained store is slow and one that uses the dashboard server is a browser
    test, whether or not its module says so: `make check` (the fast tier) then never trains or starts
    a server through a fixture. The longest modules are collected first (``LONGEST``)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & TRAINS and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
        if used & SERVES and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)
    rank = {name: i for i, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(LONGEST)))  # stable: each module keeps its order


COSTLY = ("slow", "browser", "ray", "gpu")


@pytest.fixture(autouse=True)
def fast_tier_guard(request, monkeypatch):
    """A test without any of the costly marks is in the fast tier (`make check`): it must not train
    (an optimizer step in this process) or start the throughput probe (training steps in a child).
    One that does fails here, naming the mark to add, so the fast tier stays fast by construction.
    (Trainings in a subprocess the test starts itself are for the reviewer to see: they run `tlc`
    without ``capsys`` or `python -m tlcompare worker`.)"""
    if any(request.node.get_closest_marker(m) for m in COSTLY):
        yield
        return
    seen: list[str] = []
    handle = None
    if "torch" in sys.modules:  # never imported here first: some tests check what a command imports
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        handle = register_optimizer_step_pre_hook(
            lambda opt, args, kwargs: seen.append(f"an optimizer step ({type(opt).__name__})"))
    from tlcompare.worker import procs

    start = procs.LockedJobs.start

    def watched(self, lock, log, module, *args):
        if module == "tlcompare.estimate.background":
            seen.append("the throughput probe (seed_throughput() in dashboard_fixtures avoids it)")
        return start(self, lock, log, module, *args)

    monkeypatch.setattr(procs.LockedJobs, "start", watched)
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()
    if seen:
        pytest.fail(f"this test is in the fast tier but ran {seen[0]} ({len(seen)} in all): "
                    "mark it @pytest.mark.slow", pytrace=False)


@pytest.fixture(autouse=True)
def patient_browser(request):
    """Browser tests wait for what the page shows with one long ceiling (a loaded machine imports torch
    for tens of seconds on a fresh server's first page), never Playwright's default of 5 s."""
    if request.node.get_closest_marker("browser"):
        from helpers import PAGE_TIMEOUT_MS
        from playwright.sync_api import expect

        expect.set_options(timeout=PAGE_TIMEOUT_MS)
    yield


_deselected = 0


def pytest_deselected(items):
    global _deselected
    _deselected += len(items)


def pytest_sessionfinish(session, exitstatus):
    """A tier with no test in the files asked for (``-m "not slow" tests/test_worker.py``) ran all it
    had to: exit 0, not pytest's 5 ("no tests collected"), so a script running tiers file by file never
    reads it as a failure. Files that hold no test at all still exit 5."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _deselected and session.config.getoption("markexpr"):
        session.exitstatus = pytest.ExitCode.OK
    if hasattr(session.config, "workeroutput"):  # a pytest-xdist worker: hand its builds to the controller
        session.config.workeroutput["fixture_builds"] = _builds()


def _builds() -> dict[str, list]:
    from dashboard_fixtures import BUILDS, BUILT

    return {name: [BUILDS[name], round(seconds, 1)] for name, (_, seconds) in BUILT.items()}


_worker_builds: dict[str, dict] = {}  # under pytest-xdist: each worker's builds, as it reported them


def pytest_testnodedown(node, error):
    """Under pytest-xdist (``make test`` runs two workers): a worker's builds, collected on the controller."""
    built = getattr(node, "workeroutput", {}).get("fixture_builds")
    if built:
        _worker_builds[node.gateway.id] = built


def pytest_terminal_summary(terminalreporter):
    """How often each shared trained store was built in this run, and in how long: once each (once per
    worker process under pytest-xdist, where each worker is a pytest session of its own)."""
    per_worker = _worker_builds or ({"": _builds()} if _builds() else {})
    if per_worker:
        terminalreporter.write_sep("-", "shared fixtures built")
        for worker, built in sorted(per_worker.items()):
            for name, (count, seconds) in sorted(built.items()):
                where = f" in worker {worker}" if worker else ""
                terminalreporter.write_line(f"{name}: built {count}x{where}, {seconds:.1f} s")


@pytest.fixture(autouse=True)
def tlcompare_home(tmp_path_factory, monkeypatch):
    """Every test gets its own TLCOMPARE_HOME so no test reads another's store or cache."""
    home = tmp_path_factory.mktemp("tlhome")
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    return home


@pytest.fixture
def one_thread(monkeypatch):
    """Torch on one thread: on a busy 2-core CI machine, OpenMP threads waiting for each other's
    cores make tiny workloads many times slower. TLCOMPARE_THREADS keeps a worker's runs on it too."""
    import torch

    monkeypatch.setenv("TLCOMPARE_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
