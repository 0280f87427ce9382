"""A store file that cannot be used gets the same one line on every dashboard page, never a traceback.

Real damaged SQLite files (cut short, garbage over the middle, a newer schema, a folder in the
file's place, not SQLite at all), each opened by every page: headless with AppTest, and in a real
browser through a running server, bookmarked page by bookmarked page. The file is never changed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from corpus import STORE_DAMAGE, damaged_store
from helpers import CHROMIUM_ARGS, settle, shot
from streamlit.testing.v1 import AppTest

from tlcompare.spec import build_spec
from tlcompare.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["pages/new_experiment.py", "pages/live.py", "pages/results.py", "pages/history.py",
         "pages/report.py"]
URLS = ["", "live", "results", "history", "report"]
RECOVERY = {"truncated": "move the damaged file aside", "garbage": "move the damaged file aside",
            "not_sqlite": "move the damaged file aside", "future_schema": "upgrade tlcompare",
            "unopenable": "set TLCOMPARE_HOME to another folder"}


@pytest.fixture(scope="module")
def sound_store(tmp_path_factory) -> Path:
    """A store with enough experiments and runs that damage in the middle of the file hits their rows."""
    db = tmp_path_factory.mktemp("sound") / "tlcompare.db"
    store = Store(db)
    spec = build_spec(dict(dataset="digits", model="efficientnet_lite0", sizes=[2, 5, 10, 20], seeds=5,
                           freeze=[0, "all"], epochs=2, image_size=16))
    for i in range(30):
        store.create_experiment(spec, name=f"experiment {i}", force=True)
    store.close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file: damage copies all of it
    con.close()
    return db


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


@pytest.mark.parametrize("kind", STORE_DAMAGE)
def test_every_page_answers_a_damaged_store_with_one_line(sound_store, tlcompare_home, kind):
    db = damaged_store(sound_store, tlcompare_home / "tlcompare.db", kind)
    before = db.read_bytes() if db.is_file() else None
    for page in PAGES:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        if page != PAGES[0]:
            at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        messages = [plain(e.value) for e in at.error]
        assert len(messages) == 1, (page, messages)
        message = messages[0]
        assert message.startswith(f"the store '{db}'") and RECOVERY[kind] in message, message
        assert "\n" not in message and "Traceback" not in message
        assert not at.title, "the page must not run on a store it cannot read"
    assert (db.read_bytes() if db.is_file() else None) == before  # nothing written into it


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["truncated", "garbage", "future_schema", "unopenable"])
def test_a_real_browser_sees_one_line_on_every_bookmarked_page(sound_store, dashboard, kind):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/system-deps.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    url, home = dashboard
    db = damaged_store(sound_store, home / "tlcompare.db", kind)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            try:
                for path in URLS:
                    page.goto(f"{url}/{path}")
                    alert = page.locator("[data-testid=stAlertContentError]")
                    expect(alert).to_have_count(1, timeout=90_000)
                    settle(page)
                    text = alert.inner_text().strip().splitlines()[-1]  # after the icon's name
                    assert text.startswith(f"the store '{db}'") and RECOVERY[kind] in text, text
                    assert page.locator("[data-testid=stException]").count() == 0
                    assert "Traceback" not in page.inner_text("body")
                shot(page, f"damaged-store-{kind}")
            finally:
                browser.close()
    finally:  # the fixture's teardown opens the store to stop a worker: give it a sound place
        shutil.rmtree(db) if db.is_dir() else os.remove(db)
