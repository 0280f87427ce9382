"""Print one report page to PDF: the child process ``pdf.html_to_pdf`` starts.

    python -m tlcompare.report.print_page REPORT.html OUT.pdf CHROMIUM N_CHARTS START_S DRAW_S PRINT_S

Chromium through Playwright's sync API: open the page, wait until its loader says every chart is
drawn (``window.__chartsDrawn``), print. Each step has its own time limit; a failure is one line on
stderr naming the step, and exit status 1. Imports nothing of tlcompare's but this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Chromium as root needs --no-sandbox (Playwright passes it unless asked for a sandbox); without the
# rest it keeps trying network connections that are closed here; the resolver rule keeps any stray
# URL in a report from leaving the machine.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND"]
DRAWN = "() => window.__chartsDrawn === true || !!window.__chartsFailed"


def fail(message: str) -> None:
    print(f"tlcompare: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def main(argv: list[str]) -> None:
    src, out, browser, n_charts = argv[0], Path(argv[1]), argv[2], int(argv[3])
    start_s, draw_s, print_s = (float(x) for x in argv[4:7])
    from playwright.sync_api import Error, TimeoutError, sync_playwright

    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=browser, args=ARGS, timeout=start_s * 1000)
        except Error as e:
            fail(f"could not start {browser}: {_first_line(e)}")
        try:
            page = chromium.new_page()
            page.set_default_timeout(print_s * 1000)  # page.pdf takes its limit from here
            try:
                page.goto(Path(src).as_uri(), wait_until="load", timeout=start_s * 1000)
            except TimeoutError:
                fail(f"{browser} did not load the report within {start_s:.0f} s: the machine may be too busy; try again")
            try:
                page.wait_for_function(DRAWN, timeout=draw_s * 1000, polling=200)
            except TimeoutError:
                drawn = page.evaluate("() => window.__chartsDone || 0")
                fail(f"{browser} drew {drawn} of {n_charts} charts in {draw_s:.0f} s and the report was not printed: "
                     "the machine may be too busy; try again")
            failed = page.evaluate("() => window.__chartsFailed || ''")
            if failed:
                fail(f"a chart of the report could not be drawn ({failed}); the report was not printed")
            try:
                data = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
            except TimeoutError:
                fail(f"{browser} drew every chart but did not print within {print_s:.0f} s; try again")
            out.write_bytes(data)
        except Error as e:
            fail(f"{browser} stopped while printing the report: {_first_line(e)}")
        finally:
            chromium.close()


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


if __name__ == "__main__":
    main(sys.argv[1:])
