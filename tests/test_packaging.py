"""What the install promises is what the files say: the Python version, runtime vs dev tools, exact
versions for every package the requirements name, the licence, one source of the version."""

import re
import tomllib

from helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def requirement_names(path) -> set[str]:
    names = set()
    for line in (REPO / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_python_version_is_the_one_the_code_needs_everywhere():
    assert PYPROJECT["project"]["requires-python"].startswith(">=3.11")  # spec.py reads TOML with tomllib
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    assert "Python 3.11+" in (REPO / "README.md").read_text()
    setup = (REPO / "setup.sh").read_text()
    assert "(3, 11)" in setup


def test_running_needs_no_test_tools_and_the_tests_add_them():
    runtime, dev = requirement_names("requirements.txt"), requirement_names("requirements-dev.txt")
    assert not runtime & {"pytest", "ruff"}
    assert {"pytest", "ruff"} <= dev
    assert "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text()


def test_every_required_package_has_an_exact_version_in_the_constraints():
    pinned = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pinned[name.lower().replace("_", "-")] = version
    missing = (requirement_names("requirements.txt") | requirement_names("requirements-dev.txt")) - pinned.keys()
    assert not missing, f"not in constraints.txt (run `make constraints`): {sorted(missing)}"
    assert "-c constraints.txt" in (REPO / "setup.sh").read_text()


def test_the_licence_file_is_the_one_pyproject_names():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_the_version_is_written_once():
    import tlcompare

    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tlcompare.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", tlcompare.__version__)
