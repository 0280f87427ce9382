"""The headline every face leads with, the cards beside it, and the exports' words (no training)."""

from __future__ import annotations

import re

import pytest
from synthetic_runs import runs_with_images, synth_runs

from tlcompare.analysis.view import analyse
from tlcompare.report import tables
from tlcompare.report.content import ExperimentReport
from tlcompare.spec import ExperimentSpec
from tlcompare.text.headline import MAX_WORDS, card_note, headline, multiplier_words
from tlcompare.text.setup import describe, setup_rows

SPEC = {"budget": "epochs", "epochs": 30}


def clear_win():
    """Fine-tune all far ahead at 5 per class, within noise at 100; the probe behind at 100."""
    return runs_with_images({
        ("scratch", None, 5): [0.30, 0.33, 0.28], ("scratch", None, 20): [0.60, 0.62, 0.58],
        ("scratch", None, 100): [0.80, 0.82, 0.79],
        ("pretrained", 0, 5): [0.61, 0.62, 0.60], ("pretrained", 0, 20): [0.80, 0.83, 0.79],
        ("pretrained", 0, 100): [0.82, 0.81, 0.81],
        ("pretrained", "all", 5): [0.55, 0.57, 0.54], ("pretrained", "all", 20): [0.66, 0.69, 0.65],
        ("pretrained", "all", 100): [0.65, 0.665, 0.645],
    })


def noise_after_correction():
    """At 5 per class fine-tune all's own interval excludes zero, but not after Holm over 6 comparisons."""
    return runs_with_images({
        ("scratch", None, 5): [0.50, 0.52, 0.51], ("pretrained", 0, 5): [0.53, 0.56, 0.535],
        ("pretrained", "all", 5): [0.52, 0.50, 0.53],
        ("scratch", None, 20): [0.70, 0.72, 0.69], ("pretrained", 0, 20): [0.72, 0.74, 0.70],
        ("pretrained", "all", 20): [0.71, 0.70, 0.69],
        ("scratch", None, 100): [0.80, 0.82, 0.79], ("pretrained", 0, 100): [0.81, 0.82, 0.80],
        ("pretrained", "all", 100): [0.79, 0.80, 0.78],
    })


def one_seed_loss():
    return runs_with_images({("scratch", None, 5): [0.60], ("scratch", None, 50): [0.90],
                             ("pretrained", "all", 5): [0.50], ("pretrained", "all", 50): [0.70]})


def test_a_clear_win_says_who_where_by_how_much_and_k_in_twenty_words():
    view = analyse(clear_win(), SPEC)
    lead = headline(view)
    row = view.multiplier.table.set_index(["variant", "size"]).loc[("pretrained, fine-tune all", 5)]
    k = multiplier_words(row)
    assert k.startswith("worth about ") and k.endswith("x the labels")
    assert lead.sentence == f"Pretrained (fine-tune all) beats scratch by 30.7 points at 5 images per class, {k}."
    assert len(lead.sentence.split()) <= MAX_WORDS
    assert lead.caveats == ""  # three seeds, every run finished, nothing flagged: nothing to add


def test_within_noise_after_correction_reads_the_same_in_the_headline_and_the_card():
    view = analyse(noise_after_correction(), SPEC)
    best = view.best.iloc[0]
    assert best["ci_low"] > 0 and best["outcome"] == "tie"  # the premise: uncorrected it would look like a win
    lead = headline(view)
    assert lead.sentence.startswith("At 5 images per class, pretrained (fine-tune all) is within noise of scratch "
                                    "(+3.2 points)")
    assert "beats" not in lead.sentence and len(lead.sentence.split()) <= MAX_WORDS
    assert "the labels" not in lead.sentence  # no multiplier claimed on a gap within noise
    note = card_note(best, 6)
    assert note == "within noise after correcting for 6 comparisons · 95% CI +1.3 to +5.1 before correction"


def test_one_seed_says_leads_not_beats_and_the_caveat_says_why():
    view = analyse(one_seed_loss(), SPEC)
    lead = headline(view)
    assert lead.sentence.startswith("Scratch leads pretrained by 10.0 points at 5 images per class")
    assert "1 seed: no interval" in lead.caveats
    assert card_note(view.best.iloc[0], 1) == "1 seed: no interval"


def test_unfinished_runs_make_the_headline_provisional():
    runs = runs_with_images({("scratch", None, 5): [0.30, 0.33], ("pretrained", 0, 5): [0.61, 0.62],
                             ("scratch", None, 20): [0.6, 0.6], ("pretrained", 0, 20): [0.8, 0.8]},
                            statuses={("scratch", None, 20, 1): "queued", ("pretrained", 0, 20, 1): "running"})
    lead = headline(analyse(runs, SPEC))
    assert lead.caveats.startswith("Provisional: 6 of 8 runs finished")


def test_every_headline_of_a_large_grid_stays_within_twenty_words():
    runs = synth_runs(sizes=(1, 2, 5, 10, 20, 50), seeds=3, epochs=3)
    for size in (1, 2, 5):  # the lead is the smallest size: move it through the grid
        view = analyse([r for r in runs if r["size"] >= size], SPEC)
        words = headline(view).sentence.split()
        assert len(words) <= MAX_WORDS and f"{size}" in words, words


# -- the exports in the page's words --------------------------------------------------------------------
def _report(spec: ExperimentSpec) -> ExperimentReport:
    runs = synth_runs(sizes=(1, 2, 5), seeds=2, epochs=3)
    for i, r in enumerate(runs):
        r["run_id"] = i + 1
    return ExperimentReport(id=1, name="<script>alert(1)</script> & co", notes="", created=0, status="done",
                            spec=spec.to_dict(), environment={"class_names": ["a", "b"]}, runs=runs)


def test_setup_lists_the_settings_in_the_forms_words_and_only_those_the_budget_reads():
    rows = dict(setup_rows(ExperimentSpec(budget="converged", epochs=5, patience=7, max_epochs=90).to_dict()))
    assert rows["dataset"] == "Handwritten digits (scikit-learn)" and rows["backbone"] == "EfficientNet-Lite0"
    assert rows["augmentation"] == "random shifts" and rows["optimizer"] == "AdamW"
    assert rows["freezing depths (pretrained arm)"] == "fine-tune all, linear probe"
    assert rows["training budget"] == ("until validation accuracy stops improving (at least 500 optimizer steps, "
                                       "patience 7 steps, at most 90 epochs per run)")
    legacy = dict(setup_rows({**ExperimentSpec(budget="converged", epochs=5, patience=7, max_epochs=90).to_dict(),
                              "min_steps": None}))  # stored before patience counted steps
    assert legacy["training budget"] == ("until validation accuracy stops improving (patience 7 epochs, at least 5, "
                                         "at most 90 epochs per run)")
    assert rows["learning rate, scratch"] == "0.002 (the optimizer's default)"
    steps = dict(setup_rows(ExperimentSpec(budget="steps", steps=400).to_dict()))
    assert steps["training budget"] == "400 optimizer steps per run"
    for unused in ("epochs", "patience in epochs (converged budget)", "most epochs (converged budget)",
                   "optimizer steps per run (steps budget)"):
        assert unused not in steps
    assert "data folder" not in steps and "pretrained weights" not in steps  # not set: not listed


def test_markdown_and_latex_describe_the_experiment_as_the_page_does():
    rep = _report(ExperimentSpec(budget="epochs", epochs=12, optimizer="sgd", augment="crop_flip"))
    line = describe(rep.spec, rep.environment)
    assert line == ("Handwritten digits (scikit-learn) · EfficientNet-Lite0 · 32 px images · random shifts and flips · "
                    "SGD with Nesterov momentum · 12 epochs per run")
    md, tex = tables.to_markdown([rep]), tables.to_latex([rep])
    assert line in md and "efficientnet_lite0" not in md and "crop_flip" not in md
    assert "Handwritten digits (scikit-learn) · EfficientNet-Lite0" in tex and "efficientnet\\_lite0" not in tex


def test_html_report_opens_on_the_headline_escapes_by_construction_and_says_the_setup_in_words():
    pytest.importorskip("plotly")
    from tlcompare.report.html import render_html

    rep = _report(ExperimentSpec(budget="epochs", epochs=12))
    html = render_html([rep])
    lead = headline(rep.view)
    body = html[html.index("<body"):]
    first_text = re.sub(r"<[^>]+>", "\n", body[: body.index('<nav class="toc">')])
    assert lead.sentence.replace("'", "&#39;") in first_text  # before the contents: page 1 of the PDF carries it
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    setup = html[html.index("<h4>Experiment</h4>"):html.index("<h4>Environment</h4>")]
    for words in ("Handwritten digits (scikit-learn)", "EfficientNet-Lite0", "random shifts", "AdamW",
                  "12 epochs per run"):
        assert f"<td>{words}</td>" in setup
    assert "patience" not in setup and "optimizer steps per run" not in setup  # an epochs budget reads neither
    # Every chart reports itself drawn: the flag the PDF printer waits for.
    assert html.count('class="figure-data"') >= 5 and "window.__chartsDrawn = true" in html


def test_a_target_no_run_reached_says_so_instead_of_drawing_an_empty_axis():
    from tlcompare.analysis import frames as analysis
    from tlcompare.charts import figures as charts

    epochs = analysis.epochs_frame(synth_runs(sizes=(5, 20), seeds=2, epochs=3))
    summary = analysis.time_to_target_summary(analysis.time_to_target(epochs, 0.99))
    assert summary["median_seconds"].isna().all()
    fig = charts.time_to_target(summary, 0.99)
    assert not fig.data and fig.layout.annotations[0].text == ("No run reached 99% validation accuracy: choose a "
                                                               "lower target")


def test_one_resolution_of_a_sweep_names_it_in_twenty_words():
    plain = headline(analyse(clear_win(), SPEC)).sentence
    named = headline(analyse(clear_win(), {**SPEC, "image_size": 32, "image_sizes": [32]})).sentence
    assert named == plain.replace("at 5 images per class,", "at 5 images per class (32 px),")
    assert named != plain and len(named.split()) <= MAX_WORDS
