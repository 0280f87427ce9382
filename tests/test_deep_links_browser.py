"""A bookmarked page as the very first request of a fresh server looks the same as when reached from /.

Streamlit decides on a server process's first script run whether the ``pages/`` folder means its
automatic page list; a deep link as that first run used to get a bare page (file-name page list,
no device or worker panel, no wide layout). Each case here starts its own server and opens the
bookmark first, then compares what the browser shows with the same address opened on a server
whose first request was ``/``. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from dashboard_fixtures import seed_home
from helpers import CHROMIUM_ARGS, settle, shot, streamlit_server

pytestmark = pytest.mark.browser

NAV = ["New experiment", "Live", "Results", "Report", "History"]
# Address -> the heading the page shows. {exp} is the finished experiment's id.
LINKS = {
    "": "New experiment",
    "live?exp={exp}": "Live",
    "results?exp={exp}": "Results",
    "results?exp={exp}&present=1": None,  # on a projector the verdict is the heading, not "Results"
    "results?exp={exp}&tab=Time": "Results",  # a tab of Results, bookmarked
    "report?exp={exp}": "Report",
    "history": "History",
    "live?present=1": "Live",
}

# The text of each element without its Material icons' names ("add_circle", "expand_more").
WORDS = ("els => els.map(e => { const c = e.cloneNode(true); "
         "c.querySelectorAll('[data-testid=stIconMaterial]').forEach(i => i.remove()); return c.textContent.trim(); })")


def fresh_server(home: Path, log: Path):
    """A dashboard process of its own (so its first request is ours) on a copy of the store."""
    return streamlit_server(home, log, OMP_NUM_THREADS="1")


def store_copy(source: Path, home: Path) -> Path:
    """The finished store, with the default backbone's speed known: New experiment draws its estimate
    at once instead of training for it (this module tests the frame, not that measurement)."""
    home.mkdir(parents=True)
    for f in source.glob("tlcompare.db*"):
        shutil.copy(f, home / f.name)
    return seed_home(home)


def look(page, heading: str) -> dict:
    """What a user sees of the frame and the page, once the page and the sidebar's panel are drawn."""
    from playwright.sync_api import expect

    if heading is None:
        expect(page.get_by_role("heading", name=re.compile("scratch"), level=3).first).to_be_visible(timeout=120_000)
    else:
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible(timeout=120_000)
    # The worker panel is a fragment of its own: wait for its badge, visible or not (presentation).
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stSidebar] p')]"
                           ".some(p => p.textContent.startsWith('Worker'))", timeout=60_000)
    # The page, the frame and the sidebar are drawn by one script run (a bookmark that Streamlit started
    # without app.py runs the app inside that same run: ui/frame.py), and a fresh server's first run
    # imports for seconds between two sections: read once the app says no run is under way. A run
    # that begins meanwhile (a fragment's timer, a rerun the page asks for) may change the page: read
    # again, each time the app is idle, until two reads agree.
    settle(page)
    seen = _frame_and_page(page)
    for _ in range(30):
        settle(page)
        now = _frame_and_page(page)
        if now == seen:
            return now
        seen = now
    raise AssertionError(f"the page kept changing: last read {seen}")


def _frame_and_page(page) -> dict:
    sidebar = page.locator("[data-testid=stSidebar]")
    headings = page.locator("[data-testid=stMain] h1, [data-testid=stMain] h2, [data-testid=stMain] h3")
    worker = [t.strip() for t in sidebar.locator("[data-testid=stMarkdownContainer]").all_text_contents()
              if t.strip().startswith(("Worker", "Device"))]
    return {
        "tab title": page.title(),
        "nav": page.locator("[data-testid=stSidebarNavLink]").evaluate_all(WORDS),
        "nav sections": page.locator("[data-testid=stNavSectionHeader]").evaluate_all(WORDS),
        "headings": [t.strip() for t in headings.all_text_contents()],
        "sidebar shown": sidebar.is_visible(),
        "worker panel": worker,
        "logo": page.locator("[data-testid=stSidebarLogo], [data-testid=stHeaderLogo]").count() > 0,
        "exit presentation": page.get_by_role("button", name="Exit presentation view").count(),
        "errors": page.locator("[data-testid=stException], [data-testid=stAlertContentError]").count(),
        "dialogs": page.get_by_role("dialog").count(),  # "page not found"
        "query": page.url.partition("?")[2],
        "open tab": page.locator("[role=tab][aria-selected=true]").all_text_contents(),
    }


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/system-deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def from_root(browser, finished_home, tmp_path_factory):
    """Every address's look on one server whose first request was /."""
    source, experiment_id = finished_home
    tmp = tmp_path_factory.mktemp("from-root")
    looks = {}
    with fresh_server(store_copy(source, tmp / "home"), tmp / "streamlit.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        look(page, "New experiment")
        for link, heading in LINKS.items():
            page.goto(f"{url}/{link.format(exp=experiment_id)}")
            looks[link] = look(page, heading)
        page.close()
    return looks


@pytest.mark.parametrize("link", list(LINKS))
def test_a_bookmark_opened_first_looks_as_from_the_start_page(link, browser, from_root, finished_home, tmp_path):
    source, experiment_id = finished_home
    address = link.format(exp=experiment_id)
    with fresh_server(store_copy(source, tmp_path / "home"), tmp_path / "streamlit.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{url}/{address}")
            first = look(page, LINKS[link])
            shot(page, f"deep-link-{address.replace('?', '-').replace('&', '-') or 'root'}")
        finally:
            page.close()
        log = (tmp_path / "streamlit.log").read_text()

    assert first == from_root[link]
    # And what "the same" means, so two equally broken looks cannot pass:
    assert first["nav"] == NAV and first["nav sections"] == ["Experiment", "Answer"]  # app.py's list, not file names
    assert first["tab title"] == "tlcompare: pretrained or from scratch?"
    assert first["logo"] and first["errors"] == 0 and first["dialogs"] == 0
    assert [w.split()[0] for w in first["worker panel"]] == ["Device", "Worker"]
    if "exp=" in link:
        assert f"exp={experiment_id}" in first["query"]
    presenting = "present=1" in link
    assert first["sidebar shown"] is not presenting
    assert first["exit presentation"] == int(presenting)
    assert ("present=1" in first["query"]) is presenting
    if link.startswith("results"):
        tab = "Time" if "tab=Time" in link else "The answer"
        assert first["open tab"] == [tab] and ("tab=Time" in first["query"]) is (tab == "Time")
    assert "Traceback" not in log
