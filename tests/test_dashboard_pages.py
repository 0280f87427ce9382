"""Every dashboard page, rendered headless with AppTest, on an empty store and on a finished experiment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dashboard_fixtures import seed_facts, seed_throughput
from streamlit.testing.v1 import AppTest

from tlcompare.store import Store
from tlcompare.text.escape import printable

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["pages/new_experiment.py", "pages/live.py", "pages/results.py", "pages/history.py", "pages/report.py"]
TITLES = {"pages/new_experiment.py": "New experiment", "pages/live.py": "Live", "pages/results.py": "Results",
          "pages/history.py": "History", "pages/report.py": "Report"}


def render(page: str, query: dict | None = None, session: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query or {})
    for key, value in (session or {}).items():
        at.session_state[key] = value
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    # In presentation view Results opens on its verdict: the room reads that, not the page's name.
    untitled = page == "pages/results.py" and (query or {}).get("present") == "1"
    assert [t.value for t in at.title] == ([] if untitled else [TITLES[page]])
    return at


def wait_for_facts(at: AppTest, timeout: float = 180) -> None:
    """Rerun, as the page's own poll does, until the dataset's facts read in the background are in."""
    import time

    deadline = time.time() + timeout
    while any("Reading the dataset" in c.value for c in at.caption) and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert not any("Reading the dataset" in c.value for c in at.caption), "the dataset's facts never came"


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def shown(markdown: str) -> str:
    """Markdown source as the reader sees it: messages quote user text with its punctuation escaped."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.fixture(autouse=True)
def digits_facts_known():
    """As with the throughput probe: the form's dataset facts are in the cache, so a page test shows
    the form as it is once they are read (test_a_dataset_read_for_the_first_time_never_holds_the_form
    covers the reading)."""
    seed_facts()


@pytest.fixture
def use_finished(finished_home, monkeypatch):
    home, experiment_id = finished_home
    monkeypatch.setenv("TLCOMPARE_HOME", str(home))
    seed_throughput()
    return experiment_id


# -- empty store --------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_empty_store(page):
    seed_throughput()
    at = render(page)
    assert "Device" in markdown_text(at)  # the sidebar came with it
    if page != PAGES[0]:
        assert at.info, "an empty store should say what to do"


def test_new_experiment_form_has_every_control():
    seed_throughput()
    at = render(PAGES[0])
    labels = {w.label for kind in ("selectbox", "multiselect", "number_input", "radio", "checkbox", "text_input")
              for w in at.get(kind)}
    for label in ("Dataset", "Backbone", "Pretrained weights", "Training-set sizes (labelled images per class)",
                  "Freezing depths for the pretrained arm", "Seeds", "Epochs", "Optimizer", "Batch size",
                  "Image size (pixels)", "Augmentation", "Learning rate, scratch", "Learning rate, pretrained",
                  "Cache frozen features"):
        assert label in labels, label
    assert at.session_state["preset"] == "cpu_quick"  # no GPU here: the quick preset is the default
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == "18" and metrics["Estimated time"].startswith("about")  # 2 sizes x 3 seeds x 3 arms
    assert at.button(key="start").disabled is False


def test_presets_fill_the_form():
    seed_throughput()  # the form's first look
    seed_throughput(image_size=64)
    at = render(PAGES[0])
    at.pills(key="preset").set_value("photos_500").run()
    assert not at.exception
    assert at.selectbox(key="f_dataset").value == "fashion-mnist"
    assert at.session_state["f_image_size"] == 64 and at.session_state["f_sizes"] == [5, 10, 25, 50]
    # Editing a value keeps the rest of the preset.
    at.number_input(key="f_epochs").set_value(3).run()
    assert at.session_state["f_epochs"] == 3 and at.session_state["f_image_size"] == 64


def test_invalid_form_values_show_messages_not_tracebacks():
    seed_throughput()
    at = render(PAGES[0])
    at.multiselect(key="f_sizes").set_value([]).run()
    at.multiselect(key="f_freeze").set_value([]).run()
    assert not at.exception
    text = shown("\n".join(e.value for e in at.error))
    # The form's words, not the spec's keys the command line names: never a line starting "sizes:".
    assert "Labelled images per class: give at least one training-set size" in text
    assert "Freezing depths (pretrained arm): give at least one" in text
    assert not re.search(r"^- ?(sizes|freeze):", text, re.M)
    assert at.button(key="start").disabled


def test_a_common_size_is_one_click_and_only_sizes_the_dataset_has_are_offered():
    seed_throughput()
    at = render(PAGES[0])
    at.multiselect(key="f_sizes").set_value([5]).run()
    pills = at.pills(key="f_size_pick")
    assert pills.options[:2] == ["+ 10", "+ 20"] and "+ 5" not in pills.options  # chosen already: not offered
    assert "+ 200" not in pills.options  # digits allows up to 122 per class
    pills.set_value(10).run()
    assert not at.exception
    assert at.session_state["f_sizes"] == [5, 10] and at.session_state["f_size_pick"] is None
    assert "+ 10" not in at.pills(key="f_size_pick").options


def test_the_low_resolution_note_says_how_in_the_forms_words():
    seed_throughput()
    at = render(PAGES[0])  # the quick preset: 32 px with ImageNet weights
    (note,) = [shown(i.value) for i in at.info if "training resolution" in i.value]
    assert "under 'Also at these image sizes'" in note and "image_size = [" not in note


def test_sizes_are_clamped_to_what_the_dataset_has():
    seed_throughput()
    at = render(PAGES[0])
    at.multiselect(key="f_sizes").set_value([5, "9999"]).run()
    assert any("using 122" in c.value for c in at.caption), [c.value for c in at.caption]
    assert {m.label: m.value for m in at.metric}["Runs"] == "18"  # 2 sizes x 3 seeds x 3 arms


def test_the_form_ends_with_a_second_start_that_does_the_same(monkeypatch):
    """A long form puts the cost panel's Start a screen or two above where the form ends: a second
    Start there queues the same experiment, and waits for the same confirmation."""
    seed_throughput()
    monkeypatch.setattr("tlcompare.worker.control.ensure_worker", lambda **kw: {"state": "starting", "alive": True})
    at = render(PAGES[0])
    at.number_input(key="f_lr_scratch").set_value(10.0).run()  # doubtful: both wait for "Start anyway"
    assert at.button(key="start").disabled and at.button(key="start_at_end").disabled
    assert any("Start waits for you to read the warnings" in c.value for c in at.caption)
    (confirm,) = [c for c in at.checkbox if c.key.startswith("start_anyway")]
    confirm.check().run()
    assert at.button(key="start_at_end").disabled is False
    at.number_input(key="f_epochs").set_value(2).run()
    at.button(key="start_at_end").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (experiment,) = Store().list_experiments()
    assert experiment["spec"]["epochs"] == 2 and experiment["spec"]["lr_scratch"] == 10.0
    assert [t.value for t in at.title] == ["Live"]


def test_start_enqueues_the_experiment_and_starts_a_worker(monkeypatch):
    seed_throughput()
    started = []
    monkeypatch.setattr("tlcompare.worker.control.ensure_worker", lambda **kw: started.append(kw) or {"state": "starting", "alive": True})
    at = render(PAGES[0])
    at.multiselect(key="f_sizes").set_value([2, 5]).run()
    at.multiselect(key="f_freeze").set_value(["all"]).run()
    at.number_input(key="f_epochs").set_value(2).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (experiment,) = Store().list_experiments()
    assert experiment["spec"]["sizes"] == [2, 5] and experiment["spec"]["freeze"] == ["all"]
    assert experiment["n_runs"] == 12 and started  # 2 sizes x 3 seeds x 2 arms
    assert [t.value for t in at.title] == ["Live"]  # it moved on to watch the experiment


def test_a_folder_on_this_machine_is_checked_and_used(tmp_path, monkeypatch):
    from corpus import good_folder, truncated_jpeg

    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TLCOMPARE_DATA_ROOTS", str(tmp_path))
    monkeypatch.setattr("tlcompare.worker.control.ensure_worker", lambda **kw: {"state": "starting", "alive": True})
    seed_throughput()
    folder = good_folder(tmp_path / "parts", classes=("good", "scratched"), per_class=30)
    truncated_jpeg(folder / "good" / "broken.jpg")
    at = render(PAGES[0])
    at.segmented_control(key="own_kind").set_value("folder").run()
    at.text_input(key="own_folder").input(str(folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**60** images" in markdown_text(at) and "**2** classes" in markdown_text(at)
    assert at.checkbox(key="use_own_data").value
    at.multiselect(key="f_sizes").set_value([2, 5]).run()
    wait_for_facts(at)  # the folder's split is read in a process of its own; Start waits for it
    at.button(key="start").click().run()
    (experiment,) = Store().list_experiments()
    assert experiment["spec"]["dataset"] == f"imagefolder:{folder}"


def test_a_missing_folder_gets_one_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOMPARE_DATA_ROOTS", str(tmp_path))
    seed_throughput()
    at = render(PAGES[0])
    at.segmented_control(key="own_kind").set_value("folder").run()
    at.text_input(key="own_folder").input(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error), [e.value for e in at.error]


def test_a_torchvision_dataset_not_downloaded_says_so_and_can_still_be_queued(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path / "home"))
    seed_throughput()
    at = render(PAGES[0])
    at.segmented_control(key="own_kind").set_value("torchvision").run()
    at.selectbox(key="own_torchvision").set_value("cifar10").run()
    assert any("not downloaded yet" in i.value for i in at.info), [i.value for i in at.info]
    at.checkbox(key="use_torchvision").check().run()
    assert not at.exception
    assert any("needs the dataset on this machine" in c.value for c in at.caption)
    assert at.button(key="start").disabled is False


# -- a finished experiment ----------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_a_finished_experiment(page, use_finished):
    render(page)


def test_live_shows_the_finished_state(use_finished):
    at = render("pages/live.py", query={"exp": str(use_finished)})
    assert "Finished" in at.success[0].value
    assert len(at.get("plotly_chart")) == 1
    (table,) = at.dataframe
    assert len(table.value) == 12 and set(table.value["status"]) == {"done"}


@pytest.fixture
def use_cancelled(cancelled_home, tmp_path, monkeypatch):
    """A copy of the cancelled experiment's store: Resume changes it."""
    import shutil

    home, experiment_id = cancelled_home
    for f in Path(home).glob("tlcompare.db*"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    seed_throughput()
    return experiment_id


def test_live_says_cancelled_and_what_finished(use_cancelled):
    at = render("pages/live.py", query={"exp": str(use_cancelled)})
    assert not at.success, "a cancelled experiment must not read as finished"
    (bar,) = at.get("progress")
    assert bar.proto.text.startswith("cancelled: 2 of 3 runs finished · 1 cancelled")
    assert bar.proto.value == 66  # two runs of three, not a full bar
    assert any(w.value.startswith("Cancelled: 2 of 3 runs finished") for w in at.warning), [w.value for w in at.warning]
    assert at.button(key="resume").label == "Resume"


RESULTS_TABS = ["The answer", "Freezing depth", "Learning curves", "Overfitting", "Time", "Mistakes"]


def results_tab(query: dict, tab: str, session: dict | None = None) -> AppTest:
    """Results opened on one tab, as the link /results?exp=N&tab=Time does: only the open tab is drawn."""
    return render("pages/results.py", query={**query, **({"tab": tab} if tab != RESULTS_TABS[0] else {})},
                  session=session)


def charts_in_every_tab(query: dict, session: dict | None = None) -> dict[str, int]:
    return {tab: len(results_tab(query, tab, session).get("plotly_chart")) for tab in RESULTS_TABS}


def test_results_of_a_cancelled_experiment_show_what_finished(use_cancelled):
    at = render("pages/results.py", query={"exp": str(use_cancelled)})
    (banner,) = [w.value for w in at.warning if w.value.startswith("Cancelled")]
    assert "2 of 3 runs finished; their results are kept and shown" in banner
    assert not any("has finished yet" in i.value for i in at.info)
    (label,) = at.selectbox(key="results_experiment").options
    assert label.endswith("· cancelled · 2/3 runs")  # not 3/3: a cancelled run is not a finished one
    assert at.button(key="resume")
    assert sum(charts_in_every_tab({"exp": str(use_cancelled)}).values()) >= 6  # the charts of the finished pair


def test_results_of_an_experiment_cancelled_before_any_run_finished(tmp_path, monkeypatch):
    from dashboard_fixtures import TINY

    from tlcompare.spec import build_spec

    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    seed_throughput()
    store = Store()
    experiment_id = store.create_experiment(build_spec(dict(TINY, sizes=[2], seeds=1)))
    assert store.request_cancel(experiment_id) == 3  # all queued: cancelled at once
    at = render("pages/results.py", query={"exp": str(experiment_id)})
    (banner,) = [w.value for w in at.warning]
    assert banner.startswith("Cancelled: 0 of 3 runs finished; no run finished before the cancel.")
    assert not at.info and not at.get("page_link") and not at.get("plotly_chart")  # no "Watch it train"
    assert at.button(key="resume")


@pytest.mark.parametrize("page", ["pages/live.py", "pages/results.py"])
def test_resume_requeues_the_cancelled_runs_and_moves_to_live(page, use_cancelled, monkeypatch):
    started = []
    monkeypatch.setattr("tlcompare.worker.control.ensure_worker", lambda **kw: started.append(kw) or {"state": "starting"})
    at = render(page, query={"exp": str(use_cancelled)})
    at.button(key="resume").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Live"] and started
    statuses = [r["status"] for r in Store().experiment_runs(use_cancelled)]
    assert sorted(statuses) == ["done", "done", "queued"]
    assert Store().get_experiment(use_cancelled)["status"] == "queued"


def test_results_show_the_verdict_and_every_chart(use_finished):
    at = render("pages/results.py", query={"exp": str(use_finished)}, session={"show_mistakes": True})
    assert "per class" in markdown_text(at)
    # the verdict names the best of K with its correction, every variant with its own tests, and the budget
    shown = markdown_text(at).replace("\\", "")
    assert "The best of 2 pretrained variants" in shown
    assert "fine-tune all" in shown and "linear probe" in shown and "test set p" in shown
    captions = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "Holm" in captions
    assert captions.count("Budget:") == 1 and "Budget: epochs (equal epochs); 2 epochs per run" in captions
    assert [t.label for t in at.tabs] == ["The answer", "Freezing depth", "Learning curves", "Overfitting", "Time",
                                          "Mistakes"]
    # Only the open tab is drawn: the answer's multiplier, gap and efficiency, no other tab's widgets.
    assert len(at.get("plotly_chart")) == 3 and not at.slider
    # freezing, learning, overfitting, time to target and training time, and the arms' confusion
    # matrices in one figure, each in its own tab
    query = {"exp": str(use_finished)}
    assert charts_in_every_tab(query, {"show_mistakes": True}) == {
        "The answer": 3, "Freezing depth": 1, "Learning curves": 1, "Overfitting": 1, "Time": 2, "Mistakes": 1}
    assert len(results_tab(query, "Mistakes", {"show_mistakes": True}).image) >= 1  # the gallery of mistakes
    time_tab = results_tab(query, "Time")
    assert len(time_tab.slider) == 1 and 0 < time_tab.slider[0].value <= 100
    summary_table = at.dataframe[0]  # then the provenance table
    summary = summary_table.value
    assert {"gain vs scratch", "95% CI", "trainable params", "s per run"} <= set(summary.columns)


def test_results_lead_with_the_label_multiplier_of_the_stored_runs(use_finished, finished_home):
    from tlcompare.analysis import convergence, label_multiplier
    from tlcompare.analysis import frames as analysis

    home, _ = finished_home
    store = Store(Path(home) / "tlcompare.db")
    runs = [r for r in store.experiment_runs(use_finished) if r["status"] == "done"]
    store.close()
    expected = label_multiplier.build(analysis.runs_frame(runs), analysis.epochs_frame(runs))
    assert expected.lead and len(expected.lines) == 2 * 2  # two variants at two sizes
    at = render("pages/results.py", query={"exp": str(use_finished)})
    bold = [shown(m.value) for m in at.markdown if m.value.startswith("**")]
    caveat = convergence.lead_caveat(convergence.flags_frame(runs))  # the fixture's short runs end underfit
    assert caveat and f"**{expected.lead} {caveat}**" in bold  # the verdict in full states it, with its caveat
    assert "labelled image" in expected.lead and "per class, pretrained (" in expected.lead
    text = shown(markdown_text(at))
    for line in expected.lines + expected.time_lines:
        assert line in text
    assert any("Label multiplier K = n*/N" in shown(c.value) for c in at.caption)


def test_a_closed_tab_keeps_its_widgets_values_without_a_session_state_warning(use_finished):
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("streamlit.elements.lib.policies")  # where Streamlit warns about state set twice
    logger.addHandler(handler)
    try:
        at = results_tab({"exp": str(use_finished)}, "Time")
        target = next(s for s in at.slider if str(s.key).startswith("target_"))
        target.set_value(40.0).run()
        at.query_params["tab"] = "Overfitting"  # as a click on the tab does: the address names the open tab
        at.run()
        at.selectbox(key="overfit_size").set_value(5).run()
        assert not at.slider  # the Time tab is closed: its slider is not drawn
        at.query_params["tab"] = "Time"
        at.run()
        assert next(s for s in at.slider if str(s.key).startswith("target_")).value == 40.0
        at.query_params["tab"] = "Overfitting"
        at.run()
        assert at.selectbox(key="overfit_size").value == 5
        assert not at.exception
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []


def test_results_have_an_overfitting_view_with_the_gap_of_every_run(use_finished):
    at = results_tab({"exp": str(use_finished)}, "Overfitting")
    (gaps,) = [d.value for d in at.dataframe if "gap (points)" in d.value.columns]
    runs = Store().experiment_runs(use_finished)
    assert len(gaps) == len(runs) == 12
    expected = sorted(round(100 * (r["final"]["train_acc_clean"] - r["final"]["val_acc"]), 1) for r in runs)
    assert sorted(gaps["gap (points)"]) == pytest.approx(expected)
    captions = "\n".join(c.value for c in at.caption)
    assert "augmented training batches can sit below validation accuracy" in captions
    at.selectbox(key="overfit_size").set_value(5).run()
    at.selectbox(key="overfit_seed").set_value(1).run()
    assert not at.exception
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert sum("Overfitting: training vs validation accuracy, 5 per class, seed 1" in spec for spec in specs) == 1


def test_results_say_names_in_words_and_every_gain_names_its_variant(use_finished):
    at = render("pages/results.py", query={"exp": str(use_finished)})
    text = shown(markdown_text(at) + "\n" + "\n".join(c.value for c in at.caption))
    assert "Handwritten digits (scikit-learn) · EfficientNet-Lite0 · 16 px images · 2 seeds" in text
    assert "efficientnet_lite0" not in text and "digits ·" not in text
    gains = [m for m in at.metric if m.value.endswith(" pts")]
    assert gains and all(re.match(r"(Fine-tune all|Linear probe), \d+ per class$", m.label) for m in gains)
    time_metric = next(m for m in at.metric if m.label == "Training time")
    assert re.fullmatch(r"\d+ (s|min)|\d+ h \d\d min", time_metric.value)
    assert "wall time" in time_metric.help  # training time vs wall time, said where the number is
    every_text = text + " ".join(c.value for c in at.caption)
    assert "size=" not in every_text and "seed=" not in every_text and "1 seeds" not in every_text


def test_results_show_the_budget_the_convergence_flags_and_a_target_from_the_spec(use_finished):
    at = render("pages/results.py", query={"exp": str(use_finished)})
    captions = "\n".join(c.value for c in at.caption)
    assert "Budget: epochs (equal epochs); 2 epochs per run" in captions
    # Two epochs on 20 to 50 images cannot fit them from scratch: Results says so, with the fix.
    (warning,) = [w.value for w in at.warning if "Convergence:" in w.value]
    assert "ended underfit" in warning
    assert "Fix: more epochs, or the budget 'until converged'." in markdown_text(at)
    time_tab = results_tab({"exp": str(use_finished)}, "Time")
    assert time_tab.slider[0].label == "Target validation accuracy" and time_tab.slider[0].value == 80.0


def test_form_offers_the_budgets_and_the_random_features_control():
    seed_throughput()
    at = render(PAGES[0])
    assert at.session_state["f_budget"] == "epochs"  # the preset's, so its stated time holds
    at.checkbox(key="f_random_control").check().run()
    at.selectbox(key="f_budget").set_value("converged").run()
    assert not at.exception
    assert {"Patience (optimizer steps)", "At least (optimizer steps)", "At most (epochs)"} <= {
        n.label for n in at.number_input}
    captions = "\n".join(c.value for c in at.caption)
    assert "until validation accuracy stops improving" in captions
    runs = {m.label: m.value for m in at.metric}["Runs"]
    assert runs == "24"  # 2 sizes x 3 seeds x (scratch, fine-tune, probe, random-features probe)


def test_form_switch_tunes_learning_rates_and_the_validation_images_are_a_choice():
    seed_throughput()
    at = render(PAGES[0])
    # The quick preset holds its validation set out: under equal epochs at one rate nothing is chosen on
    # it, so all 5 labelled images per class train. Said in the cost panel, not only under Advanced.
    assert at.toggle(key="f_tune_lr").value is False and at.session_state["f_validation"] == "held_out"
    assert any(c.value.startswith("Validation on a held-out set of 179 images, shared by every run: more images than "
                                  "the training set at 5/class,") for c in at.caption)
    before = {m.label: m.value for m in at.metric}["Runs"]
    # Tuning chooses on validation: the user's own labelled images then validate (the default of a new spec).
    at.toggle(key="f_tune_lr").set_value(True).run()
    at.selectbox(key="f_validation").set_value("within").run()
    assert not at.exception
    assert any(c.value.startswith("Validation within the labelled images: per class, 1 of 5 and 4 of 20 validate")
               for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert before == "18" and metrics["Runs"] == "72"  # every run at 4 learning rates: the estimate counts them
    assert any("× 3 arms × 4 learning rates" in c.value for c in at.caption)
    assert at.session_state["f_validation"] == "within" and at.session_state["f_tune_lr"] is True
    # The cheaper mode: the grid at the smallest and largest size only, one run per arm and seed between.
    at.multiselect(key="f_sizes").set_value([5, 10, 20]).run()
    assert {m.label: m.value for m in at.metric}["Runs"] == "108"
    at.checkbox(key="f_tune_ends").check().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Runs"] == "81"  # (2 sizes x 4 rates + 1) x 3 seeds x 3 arms
    assert any("× 4 learning rates at 5 and 20/class, 1 between" in c.value for c in at.caption)


def test_results_in_presentation_view_hide_nothing_essential(use_finished):
    from tlcompare.analysis.view import analyse
    from tlcompare.text.headline import MAX_WORDS, headline

    at = render("pages/results.py", query={"exp": str(use_finished), "present": "1"})
    assert any(b.label == "Exit presentation view" for b in at.button)
    assert sum(charts_in_every_tab({"exp": str(use_finished), "present": "1"}).values()) == 8 + 1
    # The page opens on the headline: one sentence, then its caveats in a caption of their own.
    view = analyse(Store().experiment_runs(use_finished, test_correct=True), Store().get_experiment(use_finished)["spec"])
    lead = headline(view)
    first = next(m.value for m in at.markdown if m.value.startswith("### "))
    assert shown(first) == f"### {lead.sentence}" and len(lead.sentence.split()) <= MAX_WORDS
    assert lead.caveats and any(shown(c.value).endswith(lead.caveats) for c in at.caption)
    # The gain cards say what the verdict says about them, after its correction.
    n = int(view.verdict.comparisons["p_holm"].notna().sum())  # up to 2 variants x 2 sizes
    notes = [c.value for c in at.caption if ("before correction" in c.value or "no interval" in c.value)
             and not c.value.startswith(":material/info:")]  # the cards' notes, not the headline's caveats
    assert len(notes) == 2 and (n < 2 or any(f"after correcting for {n} comparisons" in c for c in notes))


def test_history_lists_and_acts_on_experiments(use_finished, finished_home, tmp_path, monkeypatch):
    # Work on a copy: renaming and deleting must not change the shared store.
    import shutil

    home, _ = finished_home
    for f in Path(home).glob("tlcompare.db*"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    at = render("pages/history.py", session={"experiment_id": use_finished})
    (table,) = at.dataframe
    assert table.value["headline"][0].startswith("best of 2 pretrained vs scratch")
    at.text_input(key=f"rename_{use_finished}").set_value("x" * 100_000).run()  # past the box's own limit
    at.button(key="rename").click().run()
    assert not at.exception and 0 < len(Store().get_experiment(use_finished)["name"]) <= 200  # the box caps it
    at.text_input(key=f"rename_{use_finished}").set_value("Digits, renamed").run()
    at.button(key="rename").click().run()
    at.button(key="pin").click().run()
    assert Store().get_experiment(use_finished)["name"] == "Digits, renamed"
    assert Store().get_experiment(use_finished)["pinned"]
    at.button(key="delete").click().run()
    assert Store().get_experiment(use_finished) is not None  # not before confirming
    at.button(key="confirm").click().run()
    assert not at.exception
    assert Store().list_experiments() == []


def test_report_offers_every_run_as_files(use_finished):
    at = render("pages/report.py", query={"exp": str(use_finished)})
    # one per report format; the PDF is printed first, then offered (ui/report_downloads.py)
    assert [b.label for b in at.get("download_button")] == [
        "Report (HTML)", "Runs and epochs (CSV)", "Runs and epochs (JSON)", "Final table (Markdown)", "Final table (LaTeX)"]
    assert at.button(key="report_pdf_print").label == "Print the PDF"


# -- what the address asks for ------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["pages/live.py", "pages/results.py", "pages/report.py"])
@pytest.mark.parametrize("exp", ["3", "abc", "9" * 5000, "²"])
def test_an_address_naming_no_experiment_says_so(page, exp, use_finished):
    at = render(page, query={"exp": exp})
    notes = [shown(i.value) for i in at.info]
    # 5,000 digits pass isdigit and make int() raise; '²' is a digit to isdigit, not to int
    problem = ("There is no experiment #3: it was deleted (perhaps in another tab) or never existed." if exp == "3"
               else f"'{printable(exp, 40)}' in the address is not an experiment number.")
    assert f"{problem} Showing #{use_finished}; pick another below." in notes, notes
    assert not at.error and not at.exception
    assert at.query_params["exp"] == str(use_finished)  # the address now names what is shown


def test_an_experiment_deleted_in_another_tab_gets_a_calm_message(use_cancelled):
    at = render("pages/live.py", query={"exp": str(use_cancelled)})
    Store().delete_experiment(use_cancelled)  # the other tab, or `tlcompare delete`
    at.run()
    assert not at.exception and not at.error
    notes = [shown(i.value) for i in at.info]
    assert f"There is no experiment #{use_cancelled}: it was deleted (perhaps in another tab) or never existed." in notes
    assert "No experiments yet. Start one and watch it here." in notes


def test_pages_log_no_streamlit_warnings(use_finished):
    """Every page, run twice in one browser tab (the report's selection once logged a widget-state
    warning with a stack trace on its second run), and a preset picked on New experiment."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    # Streamlit's loggers do not propagate: listen to the one that writes widget-state warnings.
    logger = logging.getLogger("streamlit.elements.lib.policies")
    logger.addHandler(handler)
    try:
        at = render(PAGES[0], query={"exp": str(use_finished)})
        at.pills(key="preset").set_value("photos_500").run()
        for page in PAGES[1:]:
            at.switch_page(page).run()
            at.run()  # a rerun, as any click makes
            assert not at.exception
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING and "ScriptRunContext" not in r.getMessage()]
    assert warnings == []


# -- time figures: one estimate, measured without holding the page -----------------------------------
def _metric(at: AppTest, label: str) -> str:
    return {m.label: m.value for m in at.metric}[label]


def _preset_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith(PRESETS_STORY))


PRESETS_STORY = "Handwritten digits at 32 px"


def test_the_preset_caption_is_the_live_estimate():
    seed_throughput()
    at = render(PAGES[0])
    figure = _metric(at, "Estimated time")
    assert figure.startswith("about")
    assert f"(On this machine: {figure}.)" in _preset_caption(at)
    assert "min on a laptop CPU" not in _preset_caption(at)  # no stored time left to contradict it
    at.number_input(key="f_epochs").set_value(3).run()  # edited: the caption says so instead of a stale figure
    assert "You have changed it since" in _preset_caption(at)


@pytest.mark.slow
def test_the_estimate_is_measured_in_the_background_and_the_form_stays_usable():
    import time

    from tlcompare.estimate.runtime import cached_entry
    from tlcompare.presets import PRESETS

    batch = PRESETS["cpu_quick"].spec().batch_size  # what the form starts from
    at = render(PAGES[0])  # nothing measured yet in this TLCOMPARE_HOME
    assert _metric(at, "Estimated time") == "measuring…"
    assert "(Time on this machine: measuring…)" in _preset_caption(at)
    at.selectbox(key="f_model").set_value("resnet18").run()  # changing the backbone: the page answers at once
    assert not at.exception and _metric(at, "Estimated time") == "measuring…"
    at.selectbox(key="f_model").set_value("efficientnet_lite0").run()
    deadline = time.time() + 240
    while time.time() < deadline and cached_entry("efficientnet_lite0", 32, batch, "auto") is None:
        time.sleep(1)
    at.run()
    figure = _metric(at, "Estimated time")
    assert figure.startswith("about"), figure
    assert f"(On this machine: {figure}.)" in _preset_caption(at)
    # Measure again: the cached figure is dropped and measured anew, in the background again.
    at.button(key="remeasure").click().run()
    assert _metric(at, "Estimated time") == "measuring…"
    deadline = time.time() + 240
    while time.time() < deadline and cached_entry("efficientnet_lite0", 32, batch, "auto") is None:
        time.sleep(1)
    at.run()
    assert _metric(at, "Estimated time").startswith("about")


def test_a_dataset_read_for_the_first_time_never_holds_the_form():
    import time

    from tlcompare.data import facts_background

    facts_background.forget("digits", None, 0.1, 0.2, 0)  # as on a machine that never read digits
    seed_throughput()
    at = render(PAGES[0])  # answers while a process of its own reads the dataset
    assert _metric(at, "Estimated time") == "reading the dataset…"
    assert any("Reading the dataset" in c.value for c in at.caption)
    assert at.button(key="start").disabled  # the sizes it would queue are not checked yet
    at.number_input(key="f_epochs").set_value(3).run()  # usable meanwhile
    assert not at.exception and any("3 epochs each" in c.value for c in at.caption)
    deadline = time.time() + 180
    while time.time() < deadline and _metric(at, "Estimated time") == "reading the dataset…":
        time.sleep(0.5)
        at.run()
    assert _metric(at, "Estimated time").startswith("about")
    assert any("This dataset allows up to 122 per class" in c.value for c in at.caption)
    assert at.button(key="start").disabled is False


def test_runs_finished_before_are_reused_in_the_estimate(use_finished):
    from dashboard_fixtures import TINY

    from tlcompare.spec import build_spec

    seed_throughput(image_size=16)
    at = render(PAGES[0])
    at.multiselect(key="f_sizes").set_value([2, 5, 10]).run()
    at.number_input(key="f_seeds").set_value(2).run()
    at.number_input(key="f_epochs").set_value(TINY["epochs"]).run()
    at.selectbox(key="f_image_size").set_value(16).run()
    at.selectbox(key="f_batch_size").set_value(build_spec(TINY).batch_size).run()  # TINY's, not the preset's
    at.selectbox(key="f_validation").set_value(build_spec(TINY).validation).run()  # likewise
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "12 of 18 runs already finished with identical settings" in captions, captions


def test_doubtful_advanced_values_warn_and_ask_before_starting():
    seed_throughput()
    at = render(PAGES[0])
    at.number_input(key="f_lr_scratch").set_value(10.0).run()
    warnings = " ".join(w.value for w in at.warning)
    assert ": 10 is far above what adamw trains with" in shown(warnings) and "lr_scratch" not in warnings
    assert at.button(key="start").disabled
    (confirm,) = [c for c in at.checkbox if c.key.startswith("start_anyway")]
    confirm.check().run()
    assert at.button(key="start").disabled is False


def test_absurd_advanced_values_are_refused_with_the_reason():
    seed_throughput()
    at = render(PAGES[0])
    at.number_input(key="f_weight_decay").set_value(9.0).run()
    at.number_input(key="f_label_smoothing").set_value(0.9).run()
    at.number_input(key="f_epochs").set_value(5).run()
    at.number_input(key="f_warmup_epochs").set_value(100.0).run()
    text = shown("\n".join(e.value for e in at.error))
    assert ": 9 would shrink the weights faster than training moves them" in text
    assert ": 0.9 leaves the true class barely ahead" in text
    assert ": 100 warm-up epochs with 5 epochs" in text
    assert at.button(key="start").disabled and not at.exception


def test_an_experiment_of_hundreds_of_hours_asks_before_starting():
    from tlcompare.estimate.runtime import Throughput, save_throughput
    from tlcompare.presets import PRESETS

    batch = PRESETS["cpu_quick"].spec().batch_size  # what the form starts from
    save_throughput(Throughput(device="test", model="efficientnet_lite0", image_size=32, batch_size=batch, step_overhead=2.0,
                               image_seconds_full=2.0, image_seconds_head=1.0, eval_image_seconds=0.5, build_seconds=1.0))
    at = render(PAGES[0])
    at.number_input(key="f_seeds").set_value(20).run()
    warnings = shown(" ".join(w.value for w in at.warning))
    assert "This experiment would train for about" in warnings and "days" in warnings
    assert "fewer seeds" in warnings  # the advice names what would shorten it
    assert at.button(key="start").disabled


def test_typed_sizes_become_numbers_and_nothing_is_suggested():
    seed_throughput()
    at = render(PAGES[0])
    at.multiselect(key="f_sizes").set_value([5, 20, "12", "12"]).run()
    assert at.session_state["f_sizes"] == [5, 12, 20]  # numbers, sorted, each once
    # No suggestions: Enter after typing can only add the number typed (see the browser test).
    assert at.multiselect(key="f_sizes").options == []
    assert {m.label: m.value for m in at.metric}["Runs"] == "27"  # 3 sizes x 3 seeds x 3 arms


def test_the_sidebar_polls_rarely_while_nothing_trains():
    from dashboard_fixtures import TINY

    from tlcompare.spec import build_spec
    from ui import sidebar

    assert sidebar._poll_seconds() == sidebar.POLL_IDLE_SECONDS  # an idle tab: one look a minute
    Store().create_experiment(build_spec(TINY))  # queued: the worker's state matters again
    assert sidebar._poll_seconds() == sidebar.POLL_BUSY_SECONDS


def test_the_sidebar_names_the_experiment_in_training_not_a_run_that_a_slow_poll_would_leave_stale():
    from dashboard_fixtures import TINY

    from tlcompare.spec import build_spec

    seed_throughput()  # the app opens on New experiment first: its estimate, never measured here
    store = Store()
    experiment_id = store.create_experiment(build_spec(TINY))
    store.register_worker("w1", "cpu")  # this process: alive
    claimed = store.claim("w1")
    store.run_started(claimed["run_id"], "w1", claimed["attempt"], "cpu", {})
    store.worker_heartbeat("w1", claimed["run_id"], claimed["attempt"])
    at = render("pages/history.py")
    text = shown(" ".join(c.value for c in at.sidebar.caption))
    assert f"training experiment #{experiment_id}" in text and "seed" not in text and "run 1" not in text
    assert [p.label for p in at.sidebar.get("page_link") if "Watch" in p.label] == [f"Watch #{experiment_id} live"]


@pytest.mark.parametrize("damage", ["UPDATE runs SET size = 'lots' WHERE id = 1",
                                    "UPDATE runs SET final = '[1, 2]' WHERE id = 1"])
def test_a_damaged_run_row_leaves_every_page_standing(damage, finished_home, tmp_path, monkeypatch):
    import shutil
    import sqlite3

    home, experiment_id = finished_home
    for f in Path(home).glob("tlcompare.db*"):
        shutil.copy(f, tmp_path / f.name)
    with sqlite3.connect(tmp_path / "tlcompare.db") as con:
        con.execute(damage)
    monkeypatch.setenv("TLCOMPARE_HOME", str(tmp_path))
    seed_throughput()
    for page in PAGES[1:]:
        at = render(page, query={"exp": str(experiment_id)})  # no exception: render asserts it
        every = " ".join(str(e.value) for kind in ("markdown", "caption", "error", "warning", "info")
                         for e in getattr(at, kind))
        assert "Traceback" not in every and "TypeError" not in every, page
    live = render("pages/live.py", query={"exp": str(experiment_id)})
    tables = [t.value for t in live.dataframe] + [t.value for t in live.table]
    assert any("damaged" in t.to_string() for t in tables), tables


def test_the_cost_panel_counts_each_resolution_of_a_sweep():
    seed_throughput()
    seed_throughput(image_size=64)  # each resolution is measured on its own
    at = render(PAGES[0])  # the quick preset: 2 sizes x 3 seeds x 3 arms at 32 px
    at.multiselect(key="f_image_size_more").set_value([64]).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Runs"] == "36"
    assert any("2 sizes × 3 seeds × 3 arms × 2 image sizes (32, 64 px)" in c.value for c in at.caption)
