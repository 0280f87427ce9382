"""In a real browser: upload a zip of a small real folder on the New experiment page and run it to the end."""

import pytest
from corpus import good_folder, solid, truncated_jpeg, zip_of_folder
from dashboard_fixtures import seed_home
from helpers import chromium_page, streamlit_server

pytestmark = pytest.mark.browser


@pytest.fixture
def dashboard(tlcompare_home, tmp_path):
    """The dashboard on this test's own TLCOMPARE_HOME (the upload lands there), with the default
    backbone's speed known (``seed_home``): what is tested is the way from the upload to the results,
    not the first measurement (the walk-through and tests/test_dashboard_pages.py measure for real)."""
    seed_home(tlcompare_home)
    with streamlit_server(tlcompare_home, tmp_path / "streamlit.log") as url:
        try:
            yield url
        finally:
            from tlcompare.store import Store

            Store().request_worker_stop(None)  # the worker the page started


def test_upload_a_zip_of_photos_and_run_it_end_to_end(dashboard, tmp_path, tlcompare_home):
    root = good_folder(tmp_path / "parts", classes=("good part", "scratched"), per_class=8, size=(48, 36))
    solid(root / "good part" / "photo.jpg", (30, 90, 200), size=(64, 48))
    truncated_jpeg(root / "scratched" / "broken.jpg")
    (root / ".DS_Store").write_bytes(b"\x00junk")
    archive = zip_of_folder(root, tmp_path / "parts.zip", wrapper="parts")

    with chromium_page("failure-upload", height=1000) as (page, expect):
        page.goto(dashboard)
        page.get_by_role("tab", name="Your own images").click()
        page.locator("input[type=file]").set_input_files(str(archive))
        expect(page.get_by_text("Use these images for this experiment")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("17 images")).to_be_visible()
        expect(page.get_by_text("1 unreadable file is skipped")).to_be_visible()
        seeds = page.get_by_label("Seeds", exact=True)
        seeds.fill("1")  # three runs, not six: what is tested is the way from the upload to the results
        seeds.press("Enter")
        expect(page.get_by_text("1 seed ×", exact=False).first).to_be_visible()
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill("2")
        epochs.press("Enter")
        expect(page.get_by_text("2 epochs each")).to_be_visible()
        # The button comes once the page knows this machine's speed (seeded here: no training steps).
        start = page.locator(".st-key-start").get_by_role("button", name="Start experiment")  # the cost panel's
        expect(start).to_be_enabled(timeout=300_000)
        start.click()
        # A ceiling for a loaded machine: three tiny runs, seconds each on a quiet one.
        expect(page.get_by_text("Finished. Every run is in the store.")).to_be_visible(timeout=900_000)
        page.screenshot(path=str(tmp_path / "live.png"))

    from tlcompare.store import Store

    store = Store()
    (experiment,) = store.list_experiments()
    runs = store.experiment_runs(experiment["id"])
    assert len(runs) >= 2 and all(r["status"] == "done" for r in runs)
    (extracted,) = [p for p in (tlcompare_home / "uploads").glob("*/*") if p.is_dir()]
    assert extracted.name == "parts" and (extracted / "parts" / "scratched").is_dir()  # named after the upload
    assert experiment["dataset"] == f"imagefolder:{extracted}"
    assert experiment["environment"]["class_names"] == ["good part", "scratched"]
