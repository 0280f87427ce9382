"""Names and messages from users and their data stay text in every output.

An experiment trained for real on class folders named with a bidi override, a terminal escape, a
Markdown link and a newline, under an experiment name holding all of those; and one whose runs
failed with a folder path that is a Markdown image. Each is read back the way a user meets it: the
dashboard's pages (AppTest, and a real browser), and every report format.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from dashboard_fixtures import HOSTILE_CLASSES, HOSTILE_NAME, seed_throughput
from helpers import CHROMIUM_ARGS, settle, shot
from streamlit.testing.v1 import AppTest

from tlcompare.report import render_report
from tlcompare.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PLOTLY_BUNDLE_START = "/**\n* plotly.js v"


def raw_controls(text: str, allowed: str = "\n") -> list[str]:
    """Control and format characters (ESC, CR, U+202E, ...) present raw in ``text``."""
    return sorted({c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c not in allowed and c not in "\u200c\u200d"})


def unescaped_markdown(text: str) -> list[str]:
    """Markdown links or images made of the hostile names (all point at evil.example): brackets unescaped."""
    return re.findall(r"(?<!\\)\]\((?:[^)\\]|\\.)*evil", text)


@pytest.fixture
def hostile(hostile_home, monkeypatch):
    home, trained, failed = hostile_home
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    seed_throughput()
    return home, trained, failed


def page(path: str, experiment_id: int, tab: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["exp"] = str(experiment_id)
    if tab:  # Results draws only its open tab, named in the address
        at.query_params["tab"] = tab
    at.run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def every_text(at: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "subheader", "title", "header")
    return [e.value for kind in kinds for e in at.get(kind)]


# -- the dashboard -------------------------------------------------------------------------------------
def test_live_shows_a_failed_runs_error_as_text_not_markdown(hostile):
    _, _, failed = hostile
    at = page("pages/live.py", failed)
    (error,) = [e.value for e in at.error]
    assert "![pic]" in error.replace("\\", "")  # the path is quoted...
    assert not unescaped_markdown(error), error  # ...but no image or link is made of it


def test_results_gallery_and_charts_keep_class_names_inert(hostile):
    _, trained, _ = hostile
    texts, charts = [], []
    for tab in ("The answer", "Freezing depth", "Learning curves", "Overfitting", "Time", "Mistakes"):
        at = page("pages/results.py", trained, tab)
        if tab == "Mistakes":
            at.toggle(key="show_mistakes").set_value(True).run()
            images = at.get("image")
            captions = [img.caption for el in images for img in el.proto.imgs if img.caption]
            assert captions, "the mistakes gallery must show captions"
            for caption in captions:
                assert not raw_controls(caption) and not unescaped_markdown(caption), caption
        texts += every_text(at)
        charts += [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    for text in texts:
        assert not raw_controls(text) and not unescaped_markdown(text), text
    assert len(charts) >= 8  # every tab's charts, the confusion matrices included
    for chart in charts:
        blob = json.dumps(chart, ensure_ascii=False)
        assert not raw_controls(blob) and "<b>" not in blob, [c for c in raw_controls(blob)]


@pytest.mark.parametrize("path", ["pages/history.py", "pages/live.py", "pages/report.py"])
def test_other_pages_show_the_experiment_name_as_text(hostile, path):
    _, trained, _ = hostile
    at = page(path, trained)
    if path.endswith("history.py"):
        table = at.dataframe[0].value
        assert not any(raw_controls(str(v)) for v in table["name"]), list(table["name"])
    for text in every_text(at):
        assert not raw_controls(text) and not unescaped_markdown(text), text


# -- the reports ---------------------------------------------------------------------------------------
@pytest.fixture
def reports(hostile):
    home, trained, _ = hostile
    store = Store(home / "tlcompare.db")
    yield {fmt: render_report(store, [trained], fmt) for fmt in ("tex", "md", "html", "csv", "json")}
    store.close()


def test_latex_and_markdown_reports_carry_no_control_or_bidi_characters(reports):
    for fmt in ("tex", "md"):
        text = reports[fmt].decode()
        assert not raw_controls(text), (fmt, raw_controls(text))
    tex = reports["tex"].decode()
    assert r"\textbackslash{}x1b[2J\textbackslash{}u202eEvil" in tex  # shown, not obeyed


def test_html_report_carries_no_control_or_bidi_characters(reports):
    text = reports["html"].decode()
    start = text.index(PLOTLY_BUNDLE_START)  # plotly's own code is not ours to check
    ours = text[:start] + text[text.index("</script>", start):]
    assert not raw_controls(ours), raw_controls(ours)
    assert "<b>bold" not in ours


def test_csv_is_safe_and_json_keeps_the_exact_text(reports, hostile):
    csv = reports["csv"].decode()
    assert not raw_controls(csv), raw_controls(csv)
    frame = pd.read_csv(pd.io.common.StringIO(csv))
    assert frame["experiment_name"].iloc[0].startswith("\\x1b[2J\\u202eEvil")
    raw = reports["json"]
    assert raw.isascii()  # every non-ASCII character as a \\u escape: nothing reaches a terminal raw
    doc = json.loads(raw)
    assert doc["experiments"][0]["name"] == HOSTILE_NAME
    assert sorted(doc["experiments"][0]["environment"]["class_names"]) == sorted(HOSTILE_CLASSES)


# -- a real browser ------------------------------------------------------------------------------------
@pytest.mark.browser
def test_a_real_browser_shows_hostile_names_as_text(hostile, dashboard):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/system-deps.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    home, trained, failed = hostile
    url, dash_home = dashboard
    dash_home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(home / "tlcompare.db") as src, sqlite3.connect(dash_home / "tlcompare.db") as dst:
        src.backup(dst)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        view = browser.new_page(viewport={"width": 1400, "height": 2000})
        view.set_default_timeout(90_000)
        expect.set_options(timeout=90_000)
        try:
            view.goto(f"{url}/live?exp={failed}")
            alert = view.locator("[data-testid=stAlertContentError]")
            expect(alert).to_contain_text("![pic](http:/evil.example/x.png)")  # literally, as text
            settle(view)
            shot(view, "hostile-live")
            view.goto(f"{url}/results?exp={trained}")
            expect(view.get_by_role("heading", name="Results", exact=True)).to_be_visible()
            view.get_by_role("tab", name="Mistakes").click()
            view.get_by_text("Show the images", exact=True).click()
            captions = view.locator("[data-testid=stImageCaption]")
            expect(captions.first).to_be_visible()
            settle(view)
            shot(view, "hostile-mistakes")
            texts = captions.all_inner_texts()
            assert texts and not any(raw_controls(t) for t in texts), texts
            for path in (f"live?exp={failed}", f"results?exp={trained}", f"history?exp={trained}"):
                view.goto(f"{url}/{path}")
                settle(view)
                made = view.locator("a[href*='evil'], img[src*='evil']")
                assert made.count() == 0, (path, [made.nth(i).evaluate("e => e.outerHTML") for i in range(made.count())])
                assert not raw_controls(view.inner_text("main")), path
        finally:
            browser.close()
