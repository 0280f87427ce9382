"""What many test modules need, written once: the CLI (in this process or a new one), a free port, a
poll that waits for a state (never for a fixed time), and the dashboard in a real browser.

Fixtures live in ``dashboard_fixtures.py`` (registered once by conftest.py); this module holds plain
functions, imported by name: ``from helpers import tlc, wait_for``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
# Debian's Chromium as root, offline: no sandbox, and none of its background calls to the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
T = TypeVar("T")


# -- the CLI ----------------------------------------------------------------------------------------------
def tlc(*args, home: Path | str | None = None, env: dict | None = None, cwd: Path | str | None = None,
        timeout: float = 600, capsys=None) -> subprocess.CompletedProcess:
    """``tlcompare ARGS``; its exit code, stdout and stderr as a CompletedProcess.

    With ``capsys`` it runs in this process through ``tlcompare.cli.main`` (no new interpreter, no
    second torch import: seconds cheaper), the way to test argument handling and output. Without, it
    runs ``python -m tlcompare`` in a new process, for what only a process shows: its imports, its
    environment, a signal, a worker that outlives the call. ``home`` sets TLCOMPARE_HOME (``""`` sets it
    empty); the new process imports this checkout, never an installed copy.
    """
    argv = [str(a) for a in args]
    extra = {**({} if home is None else {"TLCOMPARE_HOME": str(home)}), **(env or {})}
    if capsys is not None:
        return _in_process(capsys, argv, extra, cwd)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "tlcompare", *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path, **extra}, cwd=cwd, timeout=timeout)


def _in_process(capsys, argv: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    from tlcompare.cli import main

    capsys.readouterr()  # what the test printed before is not the command's output
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        if cwd is not None:
            mp.chdir(cwd)
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: --help, or arguments it refuses
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["tlcompare", *argv], code, out.out, out.err)


# -- processes and waiting --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``check`` until it returns something true and return that; fail naming ``what`` after
    ``timeout`` seconds. The timeout is a ceiling for a machine under load, never the expected time."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def wait_for_health(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Until the Streamlit server at ``url`` answers its health check; fails at once if it exited."""

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, timeout, "the dashboard's health check", every=0.3)
    except AssertionError as e:
        raise AssertionError(f"{e}:\n{log.read_text()[-3000:]}") from None


@contextlib.contextmanager
def streamlit_server(home: Path, log: Path, **env: str) -> Iterator[str]:
    """``streamlit run app.py`` on a free local port with its own TLCOMPARE_HOME; yields its URL and
    stops it (its whole process group) afterwards: SIGTERM at once, while its exit (about a second)
    is waited for in the background, beside the next test (``_reap``)."""
    port = free_port()
    full_env = dict(os.environ, TLCOMPARE_HOME=str(home), **env)
    streamlit = Path(sys.executable).with_name("streamlit")
    cmd = [str(streamlit), "run", "app.py", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        # Not a daemon: a pytest process that ends waits for it, so no server outlives the run.
        threading.Thread(target=_reap, args=(proc,), name=f"stop streamlit {proc.pid}").start()


def _reap(proc: subprocess.Popen, grace: float = 15) -> None:
    """Wait for a process group told to stop; kill it if it is still there after ``grace`` seconds."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# -- the browser ------------------------------------------------------------------------------------------
# Long ceilings: the first page load of a fresh server imports torch, and a loaded CI machine is slow.
PAGE_TIMEOUT_MS = 90_000


def chromium_path() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/system-deps.sh installs it)")
    return chromium


@contextlib.contextmanager
def chromium_page(failure_shot: str, width: int = 1400, height: int = 2000):
    """(page, expect) of a headless Chromium page; screenshots the page when the test fails."""
    chromium = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        expect.set_options(timeout=PAGE_TIMEOUT_MS)
        try:
            yield page, expect
        except BaseException:
            shot(page, failure_shot)
            raise
        finally:
            browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# The app's root element carries the state of its connection and of the current script run.
_IDLE = ("() => { const app = document.querySelector('[data-testid=stApp]');"
         " return !!app && app.dataset.testConnectionState === 'CONNECTED'"
         " && app.dataset.testScriptState === 'notRunning'"
         " && !document.querySelector('[data-testid=stStatusWidget], [data-testid=stSkeleton]'); }")


def settle(page, timeout_ms: float = PAGE_TIMEOUT_MS) -> None:
    """Until Streamlit has finished the current script run: connected, the run's state 'notRunning',
    no running-man widget, no skeleton. A rerun that a click requested reaches the page through the
    server, so a test that expects a change waits for that change itself (``expect``); this is for
    screenshots and for measuring a page that stands still."""
    page.wait_for_function(_IDLE, timeout=timeout_ms, polling=100)


def open_expander(page, label: str) -> None:
    """Open the expander titled ``label`` and wait until the page shows it open. A click that lands while
    the page is still being drawn can be lost: then (and only then) it is clicked again."""
    settle(page)
    details = page.locator("[data-testid=stExpander] details").filter(has=page.get_by_text(label, exact=False)).first
    for _ in range(5):
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        try:
            page.wait_for_function("(d) => d.open", arg=details.element_handle(), timeout=10_000)
            return
        except Exception:  # playwright's TimeoutError: the click was lost, look again
            continue
    raise AssertionError(f"the expander {label!r} did not open")


class _TimingKeys(frozenset):
    """Measured durations and rates: they differ between two trainings of the same run."""

    def __contains__(self, key) -> bool:
        return super().__contains__(key) or str(key).endswith("_seconds")


# train_seconds, eval_seconds, val_seconds, test_seconds, plain_seconds, ... and these:
TIMING = _TimingKeys({"images_per_sec", "peak_mem_mb", "seconds_per_step"})
