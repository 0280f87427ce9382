"""The Report page: one experiment picker, others added to compare, and a PDF that says why when it fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
sys.path.insert(0, str(ROOT / "benchmarks"))

import store_scale  # noqa: E402  (the benchmark's filler: the worker's own store calls, no training)


@pytest.fixture(scope="module")
def small_home(tmp_path_factory) -> tuple[Path, list[int]]:
    home = tmp_path_factory.mktemp("report-page-home")
    return home, store_scale.fill(home / "tlcompare.db", "small")


def report_page(home: Path, monkeypatch, experiment_id: int) -> AppTest:
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["exp"] = str(experiment_id)
    at.run()
    at.switch_page("pages/report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_one_experiment_picker_and_others_added_to_compare(small_home, monkeypatch):
    home, ids = small_home
    at = report_page(home, monkeypatch, ids[0])
    (compare,) = at.multiselect
    assert compare.label == "Compare with (optional)" and len(compare.options) == len(ids) - 1
    assert not any(o.startswith(f"#{ids[0]} ") for o in compare.options)
    assert len(at.selectbox) == 1  # the page's own experiment picker, and no second one


@pytest.mark.browser
def test_a_pdf_that_cannot_be_printed_says_why_in_one_line(small_home, monkeypatch):
    home, ids = small_home
    monkeypatch.setenv("TLCOMPARE_CHROME", "/bin/false")  # a real executable that is no browser
    at = report_page(home, monkeypatch, ids[0])
    at.button(key="report_pdf_print").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert error.value.startswith("The PDF was not printed: could not start /bin/false") and "\n" not in error.value
    assert not [b for b in at.get("download_button") if b.proto.label == "Report (PDF)"]


def test_without_a_browser_the_print_button_waits_with_the_reason(small_home, monkeypatch):
    home, ids = small_home
    monkeypatch.setenv("TLCOMPARE_CHROME", str(home / "no-such-browser"))
    at = report_page(home, monkeypatch, ids[0])
    assert at.button(key="report_pdf_print").disabled
    assert any("No PDF on this machine" in c.value and "TLCOMPARE\\_CHROME" in c.value for c in at.caption)
