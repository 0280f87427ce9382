"""The PDF: the print version of the HTML report, printed by a headless Chrome or Chromium.

The print version draws every chart static at the page width, so the charts are on the pages as
drawn figures, not as empty boxes waiting for JavaScript. No network is used: the HTML carries
everything, and host resolution is switched off so a stray URL cannot leak out of the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tlcompare.errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
HINT = ("a PDF report is printed by Chromium or Chrome: install one (Debian: apt-get install chromium) or point "
        "TLCOMPARE_CHROME at its executable; the HTML report needs neither")


def find_browser() -> str | None:
    explicit = os.environ.get("TLCOMPARE_CHROME")
    if explicit:
        return explicit if Path(explicit).exists() else shutil.which(explicit)
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def browser_command(browser: str, profile: Path) -> list[str]:
    cmd = [browser, "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}"]
    if getattr(os, "geteuid", lambda: 1)() == 0:
        cmd.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox on
    return cmd


def html_to_pdf(html: str, timeout: float = 180) -> bytes:
    browser = find_browser()
    if browser is None:
        raise UserError(HINT)
    with tempfile.TemporaryDirectory(prefix="tlcompare-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        # Virtual time lets the page's scripts (plotly drawing every chart) finish before printing.
        cmd = [*browser_command(browser, Path(tmp) / "profile"), "--no-pdf-header-footer",
               "--run-all-compositor-stages-before-draw", "--virtual-time-budget=60000",
               f"--print-to-pdf={out}", src.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"{browser} did not finish printing the report within {timeout:.0f} s") from None
        except OSError as e:
            raise UserError(f"could not start {browser}: {e.strerror or e}; {HINT}") from None
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"{browser} could not print the report (exit {proc.returncode}): {last}")
        return out.read_bytes()
