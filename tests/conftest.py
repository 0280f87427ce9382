import pytest


@pytest.fixture(autouse=True)
def tlcompare_home(tmp_path_factory, monkeypatch):
    """Every test gets its own TLCOMPARE_HOME so no test reads another's store or cache."""
    home = tmp_path_factory.mktemp("tlhome")
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    return home
