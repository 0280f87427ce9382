"""The dashboard in a real browser: design a tiny experiment, watch it train, reload, read the results.

Starts ``streamlit run app.py`` on a free port with its own TLCOMPARE_HOME and drives Debian's
Chromium with Playwright. Screenshots of every step are kept in test-artifacts/dashboard/.
"""

from __future__ import annotations

import re

import pytest
from helpers import (  # noqa: F401  (CHROMIUM_ARGS, free_port, wait_for_health: imported from here by other modules)
    CHROMIUM_ARGS,
    REPO,
    chromium_page,
    free_port,
    open_expander,
    settle,
    shot,
    wait_for,
    wait_for_health,
)

ROOT = REPO
TRAINING_TIMEOUT_MS = 300_000

pytestmark = pytest.mark.browser


def runs_finished(page) -> tuple[int, int]:
    text = page.get_by_text(re.compile(r"\d+ of \d+ runs finished")).first.inner_text()
    done, total = re.search(r"(\d+) of (\d+) runs finished", text).groups()
    return int(done), int(total)


def wait_for_estimate(page, expect) -> None:
    """The form shows "measuring…" while the throughput probe runs in the background; then the figure."""
    expect(page.get_by_text(re.compile(r"On this machine: (about|at least) "))).to_be_visible(timeout=240_000)
    settle(page)


def multiselect(page, label: str):
    return page.locator("[data-testid=stMultiSelect]").filter(has_text=label)


def test_design_watch_reload_and_read_the_results(dashboard):
    url, _ = dashboard
    with chromium_page("failure") as (page, expect):
        mid_run = _walk_through(page, url, expect)
    if not mid_run:
        pytest.fail("the experiment finished before the reload: the reload was not tested mid-run")


def _walk_through(page, url: str, expect) -> bool:
    """The user's path through the dashboard; returns whether the reload happened mid-run."""

    # -- design: a tiny digits experiment, typed into the form -------------------------------
    page.goto(url)
    expect(page.get_by_role("heading", name="New experiment")).to_be_visible()
    wait_for_estimate(page, expect)
    shot(page, "01-new-experiment")
    sizes = multiselect(page, "Training-set sizes")
    sizes.locator('button[aria-label="Clear all"]').click()
    settle(page)
    box = sizes.get_by_role("combobox")  # one size typed (test_typing_a_size_adds_that_number types more)
    box.click()
    box.fill("2")
    page.get_by_role("option", name="Add: 2", exact=True).wait_for()
    box.press("Enter")
    settle(page)
    page.keyboard.press("Escape")  # close the sizes' option list: it covers the freezing depths below
    chips = sizes.locator("[data-tag]")
    expect(chips).to_have_text(["2"])
    page.get_by_role("radiogroup", name="Add a common size").get_by_role("radio", name="+ 5", exact=True).click()
    expect(chips).to_have_text(["2", "5"])
    settle(page)
    freeze = multiselect(page, "Freezing depths")
    # Three depths: every chip shows its whole label (none cut off with an ellipsis).
    freeze.get_by_role("combobox").click()
    page.get_by_role("option", name="4 · freeze 4 of 9 stages").click()
    settle(page)
    page.keyboard.press("Escape")
    settle(page)
    chips = freeze.locator(".react-aria-ComboBox [data-tag] span[title]")
    expect(chips).to_have_count(3)
    clipped = chips.evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.title)")
    assert not clipped, clipped
    shot(page, "02a-three-depths")
    for label in ("0 · fine-tune all", "4 · freeze 4 of 9 stages"):
        freeze.locator(f'[aria-label="Remove {label}"]').click()
        settle(page)
    page.keyboard.press("Escape")
    seeds = page.get_by_label("Seeds", exact=True)
    seeds.fill("1")  # the default is three seeds; one keeps this walk-through at four runs
    seeds.press("Enter")
    settle(page)
    epochs = page.get_by_label("Epochs", exact=True)
    # Long enough that the Live page (progress polled every 5 s) sees the experiment part-way through
    epochs.fill("5")
    epochs.press("Enter")
    settle(page)
    page.get_by_label("Name", exact=True).fill("Browser test: digits")
    page.get_by_label("Name", exact=True).press("Enter")
    settle(page)
    expect(page.get_by_text("2 sizes × 1 seed × 2 arms, 5 epochs each")).to_be_visible()
    shot(page, "02-form-filled")
    # Two Start buttons, the cost panel's and the one where the form ends (just under Name): that one.
    expect(page.get_by_role("button", name="Start experiment")).to_have_count(2)
    page.locator(".st-key-start_at_end").get_by_role("button", name="Start experiment").click()

    # -- watch it train, reload in the middle -------------------------------------------------
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"of 4 runs finished"))).to_be_visible()
    wait_for(lambda: runs_finished(page)[0] >= 1, TRAINING_TIMEOUT_MS / 1000, "the first run to finish", every=0.5)
    before, total = runs_finished(page)
    assert total == 4 and before >= 1
    shot(page, "03-live-running")
    mid_run = before < total
    page.reload()
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    expect(page.get_by_text("Browser test: digits").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"of 4 runs finished"))).to_be_visible()
    after, _ = runs_finished(page)
    assert after >= before, "a reload must not lose progress"
    assert "exp=1" in page.url
    shot(page, "04-live-after-reload")
    expect(page.get_by_text("Finished. Every run is in the store.")).to_be_visible(timeout=TRAINING_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)  # polling stopped with the run
    expect(page.locator(".js-plotly-plot")).to_have_count(1)
    settle(page)
    shot(page, "05-live-finished")

    # -- read the results ---------------------------------------------------------------------
    page.get_by_role("link", name="Open the results").click()
    expect(page.get_by_role("heading", name="Results", exact=True)).to_be_visible()
    # the headline leads the page (who wins at which size, by how much), the verdict follows
    expect(page.get_by_role("heading", name=re.compile(r"(scratch|Scratch) .*at \d+ images? per class|^At \d+ images? per class, pretrained"))).to_be_visible()
    expect(page.get_by_text("The verdict in full", exact=False)).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    settle(page)
    assert page.locator(".js-plotly-plot").count() >= 2
    shot(page, "06-results")
    for tab, name in (("Freezing depth", "07-freezing"), ("Learning curves", "08-learning-curves"),
                      ("Time", "09-time"), ("Mistakes", "10-mistakes")):
        page.get_by_role("tab", name=tab).click()
        settle(page)
        shot(page, name)
    expect(page.get_by_text("Test images each arm gets wrong", exact=True)).to_be_visible()
    # On demand: the images are decoded by a child process (torch stays out of the dashboard).
    page.get_by_text("Show the images", exact=True).click()
    expect(page.locator("[data-testid=stImage]").first).to_be_visible(timeout=60_000)

    page.goto(f"{url}/results?exp=1&present=1")
    expect(page.get_by_role("button", name="Exit presentation view")).to_be_visible()
    settle(page)
    expect(page.locator("[data-testid=stSidebar]")).to_be_hidden()
    shot(page, "11-presentation")
    # One seed is never drawn as precise: the gain chart says so instead of drawing zero-width whiskers.
    expect(page.get_by_text("1 seed: no interval").first).to_be_visible()
    page.goto(f"{url}/live?exp=1&present=1")
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    settle(page)
    # Presentation view shows every run's row, without a scrolling box around a few of them, in
    # large type (an HTML table: tests/test_dashboard_states.py measures its font).
    table = page.locator("[data-testid=stTable]").first
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(4)
    assert table.bounding_box()["height"] >= 44 * (4 + 1)
    shot(page, "11b-live-presentation")
    page.goto(f"{url}/history")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    settle(page)
    shot(page, "12-history")
    # Every page in both views, for whoever reviews the look (test-artifacts/dashboard/30-*.png).
    for path, title in (("", "New experiment"), ("live", "Live"), ("results", "Results"), ("history", "History"),
                        ("report", "Report")):
        for view, query in (("normal", "exp=1"), ("presentation", "exp=1&present=1")):
            page.goto(f"{url}/{path}?{query}")
            if path == "results" and view == "presentation":  # on a projector the headline is the heading
                expect(page.get_by_role("heading", name=re.compile("scratch"), level=3).first).to_be_visible()
            else:
                expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
            settle(page)
            shot(page, f"30-{path or 'new-experiment'}-{view}")
    return mid_run


def test_typing_a_size_adds_that_number(seeded_dashboard):
    """The sizes box keeps its help text's promise: type a number, press Enter, that number is added."""
    url, _ = seeded_dashboard
    with chromium_page("failure-sizes") as (page, expect):
        page.goto(url)
        expect(page.get_by_role("heading", name="New experiment")).to_be_visible(timeout=120_000)
        wait_for_estimate(page, expect)
        sizes = multiselect(page, "Training-set sizes")
        chips = sizes.locator("[data-tag]")
        expect(chips).to_have_count(2)  # the quick preset: 5 and 20
        for typed, expected in (("12", ["5", "12", "20"]), ("1", ["1", "5", "12", "20"]), ("0", ["0", "1", "5", "12", "20"])):
            box = sizes.get_by_role("combobox")
            box.click()
            box.fill(typed)
            # The only thing Enter can pick is the number typed, never another size containing it.
            expect(page.get_by_role("option").first).to_have_text(f"Add: {typed}")
            box.press("Enter")
            settle(page)
            page.keyboard.press("Escape")
            expect(chips).to_have_count(len(expected))
            assert sorted((t.strip() for t in chips.all_inner_texts()), key=int) == expected
        expect(page.get_by_text("0 is not a size: dropped")).to_be_visible()
        shot(page, "13-sizes-typed")


def test_the_form_stays_usable_while_the_speed_is_measured(seeded_dashboard):
    """Changing the backbone starts a measurement in the background: the form answers at once, shows
    "measuring…", and fills in the estimate when the measurement is done. The default backbone's speed
    is known here (the walk-through measures that one for real): the measurements this test waits for
    are the ones its own changes start, ResNet-50's and the photos preset's 64 px."""
    url, _ = seeded_dashboard
    with chromium_page("failure-measuring") as (page, expect):
        page.goto(url)
        expect(page.get_by_role("heading", name="New experiment")).to_be_visible(timeout=120_000)
        wait_for_estimate(page, expect)
        shot(page, "14-new-experiment-estimate")
        page.get_by_role("combobox", name="Backbone").click()
        page.get_by_role("option", name=re.compile("ResNet-50")).click()
        expect(page.get_by_text("measuring…").first).to_be_visible()
        # Usable meanwhile: another field changes, and the run summary follows it.
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill("3")
        epochs.press("Enter")
        expect(page.get_by_text("2 sizes × 3 seeds × 3 arms, 3 epochs each")).to_be_visible()
        expect(page.get_by_text("measuring…").first).to_be_visible()
        shot(page, "15-new-experiment-measuring")
        expect(page.get_by_text(re.compile(r"^about \d+"))).to_be_visible(timeout=240_000)
        settle(page)
        expect(page.get_by_text("You have changed it since: the cost panel shows the time of your version.", exact=False)).to_be_visible()
        page.get_by_text("500 labelled photos").click()
        expect(page.get_by_role("combobox", name="Dataset")).to_have_value("Fashion-MNIST", timeout=60_000)
        wait_for_estimate(page, expect)  # a new image size (64 px): measured, then the caption's figure
        # The preset tunes its learning rates: four rates per arm and size, counted before Start.
        expect(page.get_by_text("4 sizes × 3 seeds × 4 arms × 4 learning rates, 15 epochs each")).to_be_visible()
        shot(page, "16-new-experiment-photos-preset")


def test_advanced_labels_fit_and_boxes_stay_level(seeded_dashboard):
    """The Advanced section on a laptop screen and a narrow window: the head multiplier's label
    takes one line, and the boxes of a row stay level when a label beside them wraps."""
    url, _ = seeded_dashboard
    with chromium_page("failure-advanced") as (page, expect):
        for width in (1400, 1024):
            page.set_viewport_size({"width": width, "height": 1800})
            page.goto(url)
            expect(page.get_by_role("heading", name="New experiment")).to_be_visible(timeout=120_000)
            open_expander(page, "Advanced: training budget")
            label = page.get_by_text("Head LR multiplier", exact=True)
            expect(label).to_be_visible()
            settle(page)
            assert label.bounding_box()["height"] < 30, label.bounding_box()  # one line (22 px), not two
            boxes = [page.get_by_label(name, exact=True) for name in ("Learning rate, pretrained", "Head LR multiplier")]
            for box in boxes:  # beside a CPU hog a box can still be drawing: no box, no position (None)
                expect(box).to_be_visible()
            boxes = [box.bounding_box() for box in boxes]
            assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2, boxes
            shot(page, f"17-advanced-{width}")
