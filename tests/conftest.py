import pytest

from tlcompare.threads import set_wait_policy

# Before any test module imports torch: on a busy machine, OpenMP threads that spin while they wait
# for a core make every test that trains many times slower (tlcompare/threads.py).
set_wait_policy()


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
