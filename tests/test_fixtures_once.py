"""A session fixture that several modules import is built once per run through ``built_once``; the
same fixture without it is built once per importing module (what pytest does with an imported
fixture). Checked on a small pytest run of its own."""

import subprocess
import sys

from helpers import REPO

PLUGIN = '''
import pytest
from dashboard_fixtures import built_once

def _build(name):
    with open(name + ".count", "a") as f:
        f.write("x")
    return name

@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    return built_once("shared", lambda: _build("shared"))

@pytest.fixture(scope="session")
def plain(tmp_path_factory):
    return _build("plain")
'''
MODULE = '''
from fixtures_plugin import plain, shared  # noqa: F401  (imported, as older test modules do)

def test_it(shared, plain):
    assert shared == "shared" and plain == "plain"
'''


def test_an_imported_session_fixture_is_built_once(tmp_path):
    (tmp_path / "fixtures_plugin.py").write_text(PLUGIN)
    for name in ("test_one.py", "test_two.py", "test_three.py"):
        (tmp_path / name).write_text(MODULE)
    env_path = f"{tmp_path}:{REPO / 'tests'}:{REPO}"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                        str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": env_path})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "plain.count").read_text() == "xxx"  # pytest alone: once per importing module
    assert (tmp_path / "shared.count").read_text() == "x"  # built_once: once per run
