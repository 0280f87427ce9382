import pytest

# The shared fixtures (trained stores, the dashboard server), registered once for the whole run: a
# session fixture is then built once, not once per module that imports it. Tests ask for them by name.
pytest_plugins = ["dashboard_fixtures"]

# Fixtures whose use decides a test's tier: they train models, or start a server a browser drives.
TRAINS = {"finished_home", "cancelled_home", "hostile_home"}
SERVES = {"dashboard"}


def pytest_collection_modifyitems(items):
    """A test that uses a trained store is slow and one that uses the dashboard server is a browser
    test, whether or not its module says so: `make check` (the fast tier) then never trains or starts
    a server through a fixture."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & TRAINS and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
        if used & SERVES and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter):
    """How often each shared trained store was built in this run, and in how long: once each."""
    from dashboard_fixtures import BUILDS, BUILT

    if BUILT:
        terminalreporter.write_sep("-", "shared fixtures built")
        for name, (_, seconds) in sorted(BUILT.items()):
            terminalreporter.write_line(f"{name}: built {BUILDS[name]}x, {seconds:.1f} s")


@pytest.fixture(autouse=True)
def tlcompare_home(tmp_path_factory, monkeypatch):
    """Every test gets its own TLCOMPARE_HOME so no test reads another's store or cache."""
    home = tmp_path_factory.mktemp("tlhome")
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    return home


@pytest.fixture
def one_thread():
    """Torch on one thread: on a busy 2-core CI machine, OpenMP threads waiting for each other's
    cores make tiny workloads many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
