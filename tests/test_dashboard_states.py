"""The dashboard in a real browser in the states a review found rough: offline (nothing fetched from
another host), a cancelled experiment (Live, Results, the overfitting view), an experiment deleted
while Live polls it. Screenshots go to test-artifacts/dashboard/ next to the walk-through's."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from dashboard_fixtures import TINY
from helpers import CHROMIUM_ARGS, settle, shot

from tlcompare.spec import build_spec
from tlcompare.store import Store

pytestmark = pytest.mark.browser
LOCAL = ("127.0.0.1", "localhost")


@pytest.fixture
def browser_page(seeded_dashboard, cancelled_home):
    """(page, url, home, experiment id, outside requests, console errors) on a copy of the cancelled store."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/system-deps.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    url, home = seeded_dashboard
    source, experiment_id = cancelled_home
    home.mkdir(parents=True, exist_ok=True)
    for f in Path(source).glob("tlcompare.db*"):
        shutil.copy(f, home / f.name)
    outside, console = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)  # the first page load imports torch
        page.on("request", lambda r: outside.append(r.url)
                if r.url.startswith("http") and urlparse(r.url).hostname not in LOCAL else None)
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        try:
            yield page, url, home, experiment_id, outside, console
        except BaseException:
            shot(page, "states-failure")
            raise
        finally:
            browser.close()


def test_offline_no_page_fetches_from_another_host(browser_page):
    from playwright.sync_api import expect

    page, url, _, _, outside, console = browser_page
    page.goto(url)
    expect(page.get_by_role("heading", name="New experiment")).to_be_visible()
    settle(page)
    for name in ("Live", "Results", "Report", "History", "New experiment"):
        page.locator("[data-testid='stSidebarNav'] a").filter(has_text=name).first.click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        settle(page)
    icon = page.locator("link[rel*='icon']").first.get_attribute("href")
    assert urlparse(page.evaluate("(h) => new URL(h, document.baseURI).href", icon)).hostname in LOCAL, icon
    assert outside == [], f"requests to other hosts: {sorted(set(outside))}"
    assert console == [], f"browser console errors: {console}"


def test_cancelled_experiment_says_so_and_shows_what_finished(browser_page):
    from playwright.sync_api import expect

    page, url, _, experiment_id, _, _ = browser_page
    page.goto(f"{url}/live?exp={experiment_id}")
    expect(page.get_by_text(re.compile(r"^cancelled: 2 of 3 runs finished · 1 cancelled"))).to_be_visible()
    expect(page.get_by_text("Finished. Every run is in the store.")).to_have_count(0)
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    settle(page)
    shot(page, "20-live-cancelled")

    page.goto(f"{url}/results?exp={experiment_id}")
    expect(page.get_by_text(re.compile(r"^Cancelled: 2 of 3 runs finished; their results are kept"))).to_be_visible()
    expect(page.get_by_text("No run of this experiment has finished yet.")).to_have_count(0)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    settle(page)
    shot(page, "21-results-cancelled")
    page.get_by_role("tab", name="Overfitting").click()
    expect(page.get_by_text("The gap of every run (reported model)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^gap [+-]\d+\.\d pts$")).first).to_be_visible()
    settle(page)
    shot(page, "22-results-overfitting")


def test_an_experiment_deleted_while_live_polls_it_gets_a_calm_message(browser_page):
    from playwright.sync_api import expect

    page, url, home, _, _, _ = browser_page
    store = Store(home / "tlcompare.db")
    # Long enough to be still queued or training when it is deleted (the dashboard's worker starts).
    running = store.create_experiment(build_spec(dict(TINY, sizes=[2], seeds=1, epochs=200, name="Deleted meanwhile")))
    page.goto(f"{url}/live?exp={running}")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    store.delete_experiment(running)  # as another tab's History, or `tlcompare delete`, does
    expect(page.get_by_text(f"There is no experiment #{running}: it was deleted (perhaps in another tab)")).to_be_visible()
    time.sleep(3)  # a few polls later: still calm
    expect(page.locator("[data-testid='stAlertContentError']")).to_have_count(0)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    settle(page)
    shot(page, "23-live-deleted-meanwhile")
    store.close()


def _font_px(locator) -> float:
    return float(locator.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))


def test_presentation_view_tables_are_read_from_across_a_room(browser_page):
    """Every table of Live and Results in presentation view is in the view's large type (the normal
    view's interactive grid draws on a canvas that the view's stylesheet cannot enlarge)."""
    from playwright.sync_api import expect

    page, url, _, experiment_id, _, _ = browser_page
    page.goto(f"{url}/live?exp={experiment_id}")
    expect(page.locator("[data-testid=stDataFrame]")).to_have_count(1)  # normally: the interactive grid
    settle(page)
    body = _font_px(page.locator("[data-testid=stMarkdownContainer] p").first)

    page.goto(f"{url}/live?exp={experiment_id}&present=1")
    table = page.locator("[data-testid=stTable]")
    expect(table).to_have_count(1)
    expect(page.locator("[data-testid=stDataFrame]")).to_have_count(0)
    expect(table.locator("tbody tr")).to_have_count(3)  # every run, no scrolling box
    settle(page)
    cell, head = table.locator("tbody td").first, table.locator("thead th").first
    assert _font_px(cell) >= 20 and _font_px(head) >= 20, (_font_px(cell), _font_px(head))
    assert _font_px(cell) >= 1.25 * body  # larger than the normal view's body text, not only as large
    expect(table.get_by_text("val acc", exact=True)).to_be_visible()  # headed as the grid heads it
    expect(table.get_by_text(re.compile(r"^\d+\.\d%$")).first).to_be_visible()  # and formatted alike
    shot(page, "24-live-presentation-table")

    page.goto(f"{url}/results?exp={experiment_id}&present=1")
    expect(page.get_by_text("Paired differences (pretrained minus scratch, same size and seed)")).to_be_visible()
    # the paired-differences table itself (tables inside closed expanders are not on screen)
    summary = page.locator("[data-testid=stTable]").filter(has_text="gain vs scratch").first
    expect(summary).to_be_visible()
    summary.scroll_into_view_if_needed()
    assert _font_px(summary.locator("tbody td").first) >= 20
    settle(page)
    shot(page, "25-results-presentation-table")
    page.get_by_role("tab", name="Overfitting").click()
    gaps = page.locator("[data-testid=stTable]").filter(has_text="val acc")
    expect(gaps).to_be_visible()
    assert _font_px(gaps.locator("tbody td").first) >= 20
    expect(page.locator("[data-testid=stDataFrame]")).to_have_count(0)  # no small-type grid left on the page
