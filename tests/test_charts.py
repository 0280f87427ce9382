"""Figures and the tables behind them, at the size the dashboard must stay readable with."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from synthetic_runs import synth_runs

from tlcompare import analysis, charts, verdict


@pytest.fixture(scope="module")
def big():
    runs = synth_runs()  # 3 arms x 8 sizes x 5 seeds x 20 epochs
    return analysis.runs_frame(runs), analysis.epochs_frame(runs)


def all_figures(frame, epochs):
    target = analysis.default_target({"target_acc": 0.8})
    return {
        "gap": charts.gap_chart(analysis.paired_differences(frame)),
        "efficiency": charts.data_efficiency(analysis.summary(frame), baseline=analysis.summary(frame)),
        "freezing": charts.freezing_depth(analysis.depth_summary(frame), ["stem", "blocks"]),
        "curves": charts.learning_curves(analysis.learning_curves(epochs)),
        "curves_seconds": charts.learning_curves(analysis.learning_curves(epochs), x="seconds"),
        "live": charts.live_curves(epochs),
        "time_to_target": charts.time_to_target(analysis.time_to_target_summary(analysis.time_to_target(epochs, target)), target),
        "training_time": charts.training_time(analysis.training_time(frame)),
        "confusion": charts.confusion([[5, 1], [2, 4]], ["cat", "dog"], "scratch"),
    }


def test_every_figure_builds_with_many_runs(big):
    frame, epochs = big
    figures = all_figures(frame, epochs)
    for name, fig in figures.items():
        assert fig.data, name
        assert fig.layout.title.text, name
    # One legend entry per arm, not one per run: 120 runs stay three lines.
    named = {t.name for t in figures["efficiency"].data if t.showlegend is not False and not t.name.startswith("baseline")}
    assert named == {"scratch", "pretrained, fine-tune all", "pretrained, linear probe"}
    assert figures["efficiency"].layout.xaxis.type == "log"


def test_every_chart_has_a_hint():
    for key in ("gap", "data_efficiency", "freezing", "learning", "time_to_target", "training_time", "confusion",
                "gallery", "live"):
        assert charts.HINTS[key].strip()


def test_large_type_for_projectors(big):
    frame, _ = big
    normal = charts.gap_chart(analysis.paired_differences(frame))
    large = charts.gap_chart(analysis.paired_differences(frame), large=True)
    assert large.layout.font.size > normal.layout.font.size


def test_empty_inputs_give_a_message_not_an_error():
    empty = pd.DataFrame()
    for fig in (charts.gap_chart(empty), charts.live_curves(empty), charts.training_time(empty),
                charts.confusion([], [], "x")):
        assert fig.layout.annotations


def test_colours_keep_their_meaning():
    colors = charts.variant_colors(["pretrained, linear probe", "scratch", "pretrained, fine-tune all", "small CNN (scratch)"])
    assert colors["scratch"] == charts.SCRATCH and colors["small CNN (scratch)"] == charts.SMALL_CNN
    # Darker blue = more of the network trained.
    assert colors["pretrained, fine-tune all"] == charts.PRETRAINED[0]
    assert colors["pretrained, linear probe"] == charts.PRETRAINED[-1]


def _epochs(rows):
    # The test set stays for the final answer: time to target is measured on validation accuracy.
    return pd.DataFrame([{"variant": v, "arm": v, "size": 5, "seed": s, "freeze": "", "epoch": e, "val_acc": a,
                          "test_acc": 1.0, "elapsed_train_seconds": 10.0 * e} for v, s, e, a in rows])


def test_time_to_target_takes_the_first_epoch_at_or_above_it():
    epochs = _epochs([("scratch", 0, 1, 0.5), ("scratch", 0, 2, 0.8), ("scratch", 0, 3, 0.95),
                      ("scratch", 1, 1, 0.5), ("scratch", 1, 2, 0.6), ("scratch", 1, 3, 0.7)])
    per_run = analysis.time_to_target(epochs, 0.8)
    assert per_run.set_index("seed")["seconds"].tolist()[0] == 20.0
    assert math.isnan(per_run.set_index("seed")["seconds"].tolist()[1])
    summary = analysis.time_to_target_summary(per_run).iloc[0]
    assert summary["n_reached"] == 1 and summary["n_runs"] == 2 and summary["median_seconds"] == 20.0


def test_default_target_comes_from_the_spec_not_the_results():
    assert analysis.default_target({"target_acc": 0.65}) == pytest.approx(0.65)
    # Experiments stored before the spec had a target get the fixed default, whatever their runs reached.
    assert analysis.default_target({}) == pytest.approx(analysis.DEFAULT_TARGET_ACC)


def test_learning_curves_average_over_seeds(big):
    _, epochs = big
    curves = analysis.learning_curves(epochs)
    row = curves[(curves["variant"] == "scratch") & (curves["size"] == 5) & (curves["epoch"] == 20)
                 & (curves["metric"] == "val_acc")].iloc[0]
    raw = epochs[(epochs["variant"] == "scratch") & (epochs["size"] == 5) & (epochs["epoch"] == 20)]["val_acc"]
    assert row["n"] == 5 and row["mean"] == pytest.approx(raw.mean())
    assert row["low"] == pytest.approx(raw.min()) and row["high"] == pytest.approx(raw.max())


def test_the_answer_in_one_sentence(big):
    frame, _ = big
    assert verdict.build(frame).answer.startswith("The best of 2 pretrained variants (Holm-corrected over 16 comparisons) "
                                                  "wins at every size tested (1 to 200 images per class)")
    one_seed = verdict.build(analysis.runs_frame(synth_runs(sizes=(5, 50), seeds=1)))
    assert one_seed.answer.startswith("The best of 2 pretrained variants leads by ")
    assert any("One seed" in c for c in one_seed.caveats)
    assert not any("One seed" in c for c in verdict.build(frame).caveats)
    assert verdict.build(pd.DataFrame()).answer == "No finished scratch/pretrained pairs yet."


def test_results_table_reads_like_a_report(big):
    frame, _ = big
    shown = analysis.results_display(analysis.results_table(frame))
    assert len(shown) == 3 * 8
    first = shown.iloc[0]
    assert first["arm"] == "scratch" and first["gain vs scratch"] == "reference"
    gains = shown[shown["arm"] != "scratch"]
    assert gains["gain vs scratch"].str.endswith(" pts").all() and gains["95% CI"].str.contains(" to ").all()


def test_headline_names_both_ends_of_the_size_range(big):
    frame, _ = big
    text = verdict.headline(frame)
    assert text.startswith("best of 2 pretrained vs scratch: 1/class") and "200/class" in text


def test_class_names_from_user_folders_are_escaped_in_the_confusion_matrix():
    fig = charts.confusion([[1, 0], [0, 1]], ["<b>bold</b>", "a & b"], "scratch")
    ticks = list(fig.data[0].x)
    assert ticks == ["&lt;b&gt;bold&lt;/b&gt;", "a &amp; b"]
