"""Figures and the tables behind them, at the size the dashboard must stay readable with."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from synthetic_runs import synth_runs

from tlcompare.analysis import frames as analysis
from tlcompare.analysis import verdict
from tlcompare.charts import figures as charts
from tlcompare.charts import palette


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


def _traces_by_name(fig):
    return {t.name: t for t in fig.data if t.name}


def test_a_variant_keeps_its_colour_across_experiments_with_other_variants():
    # Experiment A: fine-tune all and linear probe; experiment B: freeze 4 first, then fine-tune all.
    a = synth_runs(sizes=(5, 20), seeds=2, freezes=(0, "all"))
    b = synth_runs(sizes=(5, 50), seeds=2, freezes=(4, 0))
    b += [{**r, "arm": "small_cnn"} for r in b if r["arm"] == "scratch"]
    looks = []
    for runs in (a, b):
        frame = analysis.runs_frame(runs)
        gap = _traces_by_name(charts.gap_chart(analysis.paired_differences(frame)))
        eff = _traces_by_name(charts.data_efficiency(analysis.summary(frame)))
        looks.append({v: (gap[v].marker.color if v in gap else None, eff[v].line.color, eff[v].marker.symbol,
                          eff[v].line.dash) for v in eff})
    shared = set(looks[0]) & set(looks[1])
    assert {"scratch", "pretrained, fine-tune all"} <= shared
    for v in shared:
        assert looks[0][v] == looks[1][v], v
    # Ranks moved (B has freeze 4 between fine-tune all and the end), colours did not.
    assert looks[1]["pretrained, freeze 4"][1] not in {looks[1][v][1] for v in looks[1] if v != "pretrained, freeze 4"}


def _every_variant():
    depths = [0, *range(1, 9), "all"]
    names = ["scratch", "small CNN (scratch)"]
    names += [analysis.variant(arm, d) for arm in ("pretrained", "random") for d in depths]
    return names


def test_every_pair_of_variants_differs_in_luminance_or_marker_and_lines_in_dash_or_hue():
    names = _every_variant()
    looks = {v: palette.style(v) for v in names}
    for i, v in enumerate(names):
        for w in names[i + 1:]:
            a, b = looks[v], looks[w]
            lum = abs(palette.luminance(a.color) - palette.luminance(b.color))
            assert lum > 0.05 or a.symbol != b.symbol, (v, w)
            assert (a.color, a.dash) != (b.color, b.dash) or a.symbol != b.symbol, (v, w)
    # The hues of the answer are Okabe and Ito's set; the random-feature controls are gray.
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    for v in names:
        assert (looks[v].color in okabe_ito) != v.startswith("random features"), v
    # Scratch and fine-tune all, the two lines every experiment has, differ in luminance too.
    assert abs(palette.luminance(looks["scratch"].color) - palette.luminance(looks["pretrained, fine-tune all"].color)) > 0.05


def test_freezing_chart_sizes_differ_in_colour_luminance_and_marker():
    frame = analysis.runs_frame(synth_runs(sizes=(5, 20), seeds=2))
    fig = charts.freezing_depth(analysis.depth_summary(frame), ["stem", "blocks"])
    lines = [t for t in fig.data if t.showlegend is not False and t.name and t.name.endswith("per class")]
    assert len(lines) == 2
    c = [t.line.color for t in lines]
    assert abs(palette.luminance(c[0]) - palette.luminance(c[1])) > 0.15
    assert lines[0].marker.symbol != lines[1].marker.symbol and lines[0].line.dash != lines[1].line.dash


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


def test_one_seed_is_never_drawn_as_precise():
    frame = analysis.runs_frame(synth_runs(sizes=(5, 20), seeds=1))
    gap = charts.gap_chart(analysis.paired_differences(frame))
    freezing = charts.freezing_depth(analysis.depth_summary(frame), ["stem", "blocks"])
    for fig in (gap, freezing):
        assert fig.layout.title.text.endswith("1 seed: no interval")
        for t in fig.data:
            if t.error_y and t.error_y.array is not None:
                # No whisker at all, rather than a zero-width cap that reads as "exact".
                assert not t.error_y.visible and all(h is None for h in t.error_y.array)
    assert "1 seed: no band" in charts.data_efficiency(analysis.summary(frame)).layout.title.text
    shown = analysis.results_display(analysis.results_table(frame))
    assert set(shown.loc[shown["arm"] != "scratch", "95% CI"]) == {"1 seed: no interval"}
    two = analysis.runs_frame(synth_runs(sizes=(5, 20), seeds=2))
    bars = [t for t in charts.gap_chart(analysis.paired_differences(two)).data if t.type == "bar"]
    assert all(t.error_y.visible and all(h > 0 for h in t.error_y.array) for t in bars)


def test_the_baseline_is_drawn_on_gain_freezing_and_time_and_its_legend_keeps_off_the_title():
    frame = analysis.runs_frame(synth_runs(sizes=(5, 20), seeds=2))
    other = analysis.runs_frame(synth_runs(sizes=(5, 50), seeds=2, freezes=(0, 4)))
    target = 0.5
    figs = {
        "gap": charts.gap_chart(analysis.paired_differences(frame), baseline=analysis.paired_differences(other),
                                baseline_name="baseline #7"),
        "freezing": charts.freezing_depth(analysis.depth_summary(frame), baseline=analysis.depth_summary(other),
                                          baseline_name="baseline #7"),
        "time": charts.time_to_target(analysis.time_to_target_summary(analysis.time_to_target(analysis.epochs_frame(
            synth_runs(sizes=(5, 20), seeds=2)), target)), target, baseline=analysis.time_to_target_summary(
            analysis.time_to_target(analysis.epochs_frame(synth_runs(sizes=(5, 50), seeds=2, freezes=(0, 4))), target)),
            baseline_name="baseline #7"),
        "efficiency": charts.data_efficiency(analysis.summary(frame), analysis.summary(other), "baseline #7"),
    }
    for key, fig in figs.items():
        base = [t for t in fig.data if t.name and t.name.startswith("baseline #7: ")]
        assert base, key
        for t in base:
            # Full-strength colour, thick enough for a projector; the variant's (or size's) own hue.
            assert t.marker.line.width >= 2 if t.mode == "markers" else t.line.width >= 3, key
        names = {t.name for t in fig.data if t.showlegend is not False and t.name}
        if len(names) > 3:
            # Several legend rows above the plot would print over the title: the legend moves to the right.
            assert fig.layout.legend.orientation == "v" and fig.layout.legend.x > 1, key
    gap_base = {t.name: t for t in figs["gap"].data if t.name and t.name.startswith("baseline")}
    # Freeze 4 has no bar in this experiment: no baseline marker pretends it does.
    assert set(gap_base) == {"baseline #7: pretrained, fine-tune all"}
    assert gap_base["baseline #7: pretrained, fine-tune all"].marker.color == palette.style("pretrained, fine-tune all").color
