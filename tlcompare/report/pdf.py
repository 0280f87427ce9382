"""The PDF: the print version of the HTML report, printed by Chromium once every chart is drawn.

The print version draws every chart static at the page width and sets ``window.__chartsDrawn``
when plotly has finished the last one (``html.LOADER``). Chromium is driven through Playwright's
DevTools connection: open the page, wait for that flag, print (``page.pdf``). Waiting for a real
signal replaces ``--print-to-pdf --virtual-time-budget``, on which Chromium 156 (Debian's current
package) hangs until any time limit, even on an idle machine.

The printing runs in a child process of its own (``print_page.py``) in a new session, so a browser
that hangs is killed with all its processes when the time limit passes, and Playwright's sync API
never meets a caller's event loop (the dashboard builds files on its server's threads). No network
is used: the HTML carries everything, and host resolution is switched off so a stray URL cannot
leak out of the machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import tlcompare
from tlcompare.errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
HINT = ("a PDF report is printed by Chromium or Chrome: install one (Debian: apt-get install chromium) or point "
        "TLCOMPARE_CHROME at its executable; the HTML report needs neither")
PLAYWRIGHT_HINT = ("a PDF report is printed through the Python package playwright, which is not installed: "
                   "pip install playwright (its own browser download is not needed); the HTML report needs neither")
FIGURE_MARK = 'class="figure-data"'  # one per chart in the HTML (html._Figures)

# Seconds allowed for each step. Drawing grows with the charts: about 0.3 s a chart on an idle 2-core
# machine, several times that beside other work, so the limit is generous per chart.
START_SECONDS = 60  # start Chromium and load the page (plotly's 4 MB script is parsed once)
DRAW_SECONDS, DRAW_SECONDS_PER_CHART = 30, 4
PRINT_SECONDS, PRINT_SECONDS_PER_CHART = 30, 2


def find_browser() -> str | None:
    explicit = os.environ.get("TLCOMPARE_CHROME")
    if explicit:
        return explicit if Path(explicit).exists() else shutil.which(explicit)
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def missing() -> str | None:
    """Why this machine cannot print a PDF (one line with the fix), or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return PLAYWRIGHT_HINT
    if find_browser() is None:
        return HINT
    return None


def limits(n_charts: int) -> tuple[float, float, float]:
    """(start, draw, print) seconds for a report of ``n_charts`` charts."""
    return (START_SECONDS, DRAW_SECONDS + DRAW_SECONDS_PER_CHART * n_charts,
            PRINT_SECONDS + PRINT_SECONDS_PER_CHART * n_charts)


def html_to_pdf(html: str) -> bytes:
    """The PDF of a print-mode report (``render_html(..., mode="print")``); a UserError of one line
    naming what failed (no browser, no playwright, a chart not drawn in time, a browser error)."""
    problem = missing()
    if problem:
        raise UserError(problem)
    browser = find_browser()
    n_charts = html.count(FIGURE_MARK)
    start, draw, print_s = limits(n_charts)
    total = start + draw + print_s + 15  # the child's own steps time out first; this catches a hang between them
    with tempfile.TemporaryDirectory(prefix="tlcompare-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [sys.executable, "-m", "tlcompare.report.print_page", str(src), str(out), browser,
               str(n_charts), str(start), str(draw), str(print_s)]
        # The child imports this package wherever the caller found it (a checkout run without installing).
        package_root = str(Path(tlcompare.__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                    start_new_session=True)
        except OSError as e:
            raise UserError(f"could not start the PDF printer: {e.strerror or e}") from None
        try:
            _, err = proc.communicate(timeout=total)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise UserError(f"printing the PDF did not finish within {total:.0f} s ({n_charts} charts): the machine "
                            "may be too busy; try again, or export the HTML report and print it from a browser") from None
        finally:
            _kill_group(proc)  # Chromium's helpers, should the child have left any behind
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            last = (err.strip().splitlines() or [f"the printer exited with status {proc.returncode}"])[-1]
            raise UserError(last.removeprefix("tlcompare: error: "))
        return out.read_bytes()


def _kill_group(proc: subprocess.Popen) -> None:
    """End the printer's process group (the child and the Chromium it started), then collect the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait()
