"""The label multiplier: curve fits, the interval's coverage on curves of a known law, every edge case's
sentence, the time saved, the chart, and a real digits experiment on every face that shows it."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import runs_with_images, synth_runs

from tlcompare.analysis import anchored, convergence, curve_fits, label_multiplier, time_saved
from tlcompare.analysis import frames as analysis
from tlcompare.charts.multiplier import label_multiplier_chart

SIZES = np.array([5, 10, 20, 50, 100.0])


def law(n, a, b, c):
    return a - b * np.asarray(n, dtype=float) ** -c


# -- the fits ----------------------------------------------------------------------------------------
def test_power_law_is_recovered_from_exact_points():
    fit = curve_fits.fit_power(SIZES, law(SIZES, 0.95, 0.8, 0.5), np.ones(len(SIZES)))
    assert fit["a"][0] == pytest.approx(0.95, abs=0.01) and fit["c"][0] == pytest.approx(0.5, rel=0.05)
    n = curve_fits.power_inverse(fit, law(40, 0.95, 0.8, 0.5))
    assert n[0] == pytest.approx(40, rel=0.05)
    assert curve_fits.power_inverse(fit, 0.99)[0] == math.inf  # above the ceiling


def test_power_law_keeps_its_bounds():
    # Points that a free fit would send above 1: the ceiling stays at most 1, the curve rising.
    fit = curve_fits.fit_power(SIZES, [0.90, 0.97, 0.995, 1.0, 1.0], np.ones(5))
    assert 0 <= fit["a"][0] <= 1 and fit["b"][0] >= 0


def test_isotonic_pools_a_dip_and_the_walk_inverts_inside_the_range():
    iso = curve_fits.isotonic([0.5, 0.7, 0.6, 0.9], [1, 1, 1, 1])[:, 0]
    assert iso.tolist() == pytest.approx([0.5, 0.65, 0.65, 0.9])
    n = np.array([5, 10, 20, 50.0])
    y = np.array([0.5, 0.6, 0.7, 0.8])
    # from the smallest size up to 0.7: exactly the measured 20; past the largest with 4 sizes: projected
    assert anchored.reach(n, y, np.ones(4), 0, goal=0.7)["n_star"][0] == pytest.approx(20, rel=1e-6)
    assert anchored.reach(n, y, np.ones(4), 3, gap=-0.1)["n_star"][0] == pytest.approx(20, rel=1e-6)
    assert anchored.reach(n, y, np.ones(4), 0, goal=0.4)["n_star"][0] == -math.inf
    assert anchored.reach(n[:3], y[:3], np.ones(3), 0, goal=0.75)["n_star"][0] != anchored.reach(
        n[:3], y[:3], np.ones(3), 0, goal=0.75)["n_star"][0]  # NaN: three sizes project nothing


def test_a_zero_gap_is_exactly_n_for_any_curve_shape():
    shapes = {"power": law(SIZES, 0.97, 0.9, 0.6), "flat then steep": np.array([0.2, 0.21, 0.5, 0.9, 0.95]),
              "with a dip": np.array([0.5, 0.7, 0.6, 0.9, 0.91]), "logistic": 0.1 + 0.85 / (1 + np.exp(-1.6 * np.log(SIZES / 8)))}
    for name, y in shapes.items():
        for start in range(len(SIZES)):
            got = anchored.reach(SIZES, y, np.ones(len(SIZES)), start, gap=0.0)["n_star"][0]
            assert got == SIZES[start], (name, start, got)


def test_a_gap_moves_n_star_along_the_curve_from_n_not_from_a_fit():
    # A curve the power law misses: the walk from N uses what scratch measured there.
    y = np.array([0.500, 0.652, 0.761, 0.890])
    n = np.array([5, 10, 20, 50.0])
    got = anchored.reach(n, y, np.ones(4), 1, gap=0.761 - 0.652)["n_star"][0]
    assert got == pytest.approx(20, rel=1e-6)
    past = anchored.reach(n, y, np.ones(4), 3, gap=0.02)
    assert 50 < past["n_star"][0] < math.inf and past["ceiling"][0] > 0.91  # anchored at 0.89, not at the fit's value


# -- the interval covers the truth -------------------------------------------------------------------
def test_interval_covers_the_true_multiplier_in_at_least_90_percent_of_200_draws():
    """Scratch follows 0.97 - 0.9 n^-0.6, the pretrained variant 0.99 - 0.3 n^-0.6, each seed with
    noise; at N = 10 the true multiplier is n*/N with scratch's law reaching the variant's mean.
    (Coverage on curves that are not power laws, and past the measured sizes: benchmarks/multiplier_coverage.py,
    docs/validation.md.)"""
    rng = np.random.default_rng(20261201)
    size, seeds, sd = 10, 5, 0.015
    goal = law(size, 0.99, 0.3, 0.6)
    true_k = (0.9 / (0.97 - goal)) ** (1 / 0.6) / size
    hits, cases = 0, set()
    for _ in range(200):
        scratch = law(SIZES, 0.97, 0.9, 0.6)[:, None] + rng.normal(0, sd, (len(SIZES), seeds))
        target = goal + rng.normal(0, sd, seeds)
        row = label_multiplier.estimate(SIZES, scratch, target, size, n_boot=300, seed=int(rng.integers(2**31)))
        if row["case"] == "beyond projection":  # a bound: "more than k"
            hits += true_k > row["k"]
        else:
            hits += row["k_low"] <= true_k <= row["k_high"]
        cases.add(row["case"])
    assert hits >= 180, f"{hits} of 200 statements hold the true multiplier {true_k:.1f}"
    assert cases <= {"interpolated", "extrapolated", "beyond projection"}


# -- the edge cases, each with its sentence ----------------------------------------------------------
def frame_of(accuracies: dict) -> pd.DataFrame:
    return analysis.runs_frame(runs_with_images(accuracies, n_test=1000))


def only(table: pd.DataFrame, size: int, variant: str = "pretrained, fine-tune all"):
    return table[(table["size"] == size) & (table["variant"] == variant)].iloc[0]


def test_one_seed_gives_a_number_without_an_interval():
    f = frame_of({("scratch", None, 5): [0.5], ("scratch", None, 20): [0.7], ("scratch", None, 50): [0.8],
                  ("pretrained", 0, 5): [0.7]})
    r = only(label_multiplier.multipliers(f), 5)
    assert 3 < r["k"] < 5 and math.isnan(r["k_low"]) and math.isnan(r["k_high"])  # scratch has 0.7 at 20
    assert "1 seed: no interval" in label_multiplier.sentence(r)


def test_two_sizes_interpolate_in_log_n():
    f = frame_of({("scratch", None, 5): [0.50, 0.52, 0.48], ("scratch", None, 50): [0.80, 0.82, 0.78],
                  ("pretrained", 0, 5): [0.66, 0.65, 0.63]})
    r = only(label_multiplier.multipliers(f), 5)
    assert r["case"] == "interpolated"
    assert 5 < r["n_star"] < 50 and r["k_low"] <= r["k"] <= r["k_high"]
    text = label_multiplier.sentence(r)
    assert re.search(r"is as good as scratch with about \d+ \(95 % interval \d+(\.\d)? to \d+\): pretraining is worth "
                     r"about \d(\.\d)?x your labels\.$", text), text


def test_a_dip_in_scratchs_curve_is_pooled_not_inverted_twice():
    f = frame_of({("scratch", None, 5): [0.50, 0.51], ("scratch", None, 10): [0.70, 0.71],
                  ("scratch", None, 20): [0.62, 0.63], ("scratch", None, 50): [0.85, 0.86],
                  ("pretrained", 0, 5): [0.66, 0.67]})
    r = only(label_multiplier.multipliers(f), 5)
    assert math.isfinite(r["k"]) and r["k"] > 1
    assert "pretraining is worth about" in label_multiplier.sentence(r)


def test_pretrained_worse_than_scratch_says_so():
    f = frame_of({("scratch", None, 5): [0.60, 0.62], ("scratch", None, 10): [0.70, 0.71],
                  ("scratch", None, 20): [0.80, 0.79], ("pretrained", 0, 10): [0.64, 0.65]})
    r = only(label_multiplier.multipliers(f), 10)
    assert r["k"] < 1
    assert "worth only" in label_multiplier.sentence(r) and "worse than training from scratch" in label_multiplier.sentence(r)
    below = only(label_multiplier.multipliers(frame_of({
        ("scratch", None, 5): [0.60, 0.62], ("scratch", None, 10): [0.70, 0.71], ("pretrained", 0, 5): [0.40, 0.42]})), 5)
    assert below["case"] == "below range"
    assert "worth less than 1.0x your labels, worse than training from scratch" in label_multiplier.sentence(below)


def test_above_scratchs_fitted_ceiling_is_not_reached():
    sizes = [5, 10, 20, 50, 100]
    scratch = {("scratch", None, n): [float(law(n, 0.80, 0.8, 0.7)) + d for d in (-0.003, 0.0, 0.003)] for n in sizes}
    f = frame_of({**scratch, ("pretrained", 0, 5): [0.90, 0.91, 0.92]})
    r = only(label_multiplier.multipliers(f), 5)
    assert r["case"] == "not reached" and r["ceiling_high"] < r["target_acc"]
    assert "above what scratch can reach with any amount of data we can project" in label_multiplier.sentence(r)


def test_past_the_projection_limit_only_a_bound_is_given():
    sizes = [5, 10, 20, 50]
    scratch = {("scratch", None, n): [float(law(n, 0.95, 0.8, 0.4)) + d for d in (-0.002, 0.0, 0.002)] for n in sizes}
    f = frame_of({**scratch, ("pretrained", 0, 5): [0.85, 0.85, 0.86]})
    r = only(label_multiplier.multipliers(f), 5)
    assert r["case"] == "beyond projection" and r["limit"] == 2.0  # 3 seeds: a number at most 2x past 50
    assert 50 / 5 < r["k"] <= 100 / 5
    assert f"scratch would need more than {r['k'] * 5:.0f} per class" in label_multiplier.sentence(r)
    assert "pretraining is worth more than" in label_multiplier.sentence(r)


def test_a_projection_within_the_limit_is_a_number_with_its_factor():
    sizes = [5, 10, 20, 50]
    scratch = {("scratch", None, n): [float(law(n, 0.95, 0.8, 0.4)) + d for d in (-0.004, 0.0, 0.004)] for n in sizes}
    goal = float(law(75, 0.95, 0.8, 0.4))
    gap = goal - float(law(50, 0.95, 0.8, 0.4))
    f = frame_of({**scratch, ("pretrained", 0, 50): [float(law(50, 0.95, 0.8, 0.4)) + gap + d for d in (-0.004, 0.0, 0.004)]})
    r = only(label_multiplier.multipliers(f), 50)
    assert r["case"] == "extrapolated" and 1 < r["beyond_factor"] <= 2
    assert r["k"] == pytest.approx(1.5, rel=0.15) and r["k_low"] <= r["k"] <= r["k_high"]
    assert "projected" in label_multiplier.sentence(r) and "beyond the largest size measured" in label_multiplier.sentence(r)
    line = label_multiplier.target_line(label_multiplier.labels_to_target(f, target=goal))
    assert re.search(r"scratch needs about \d+ per class \(extrapolated; 95 % interval [^()]+\)", line), line


def test_all_accuracies_equal_give_no_multiplier():
    f = frame_of({**{("scratch", None, n): [0.9, 0.9] for n in (5, 10, 20)}, ("pretrained", 0, 5): [0.9, 0.9]})
    r = only(label_multiplier.multipliers(f), 5)
    assert r["case"] == "flat" and math.isnan(r["k"])
    assert "no label multiplier can be given" in label_multiplier.sentence(r)
    # The chart draws no arrow, and its caption says why instead of explaining arrows
    from tlcompare.charts.multiplier import HINT, NO_ARROW_HINT, hint

    assert hint(label_multiplier.multipliers(f)) == NO_ARROW_HINT
    gain = frame_of({**{("scratch", None, n): [0.5 + n / 100, 0.5 + n / 100] for n in (5, 10, 20)},
                     ("pretrained", 0, 5): [0.6, 0.6]})
    assert hint(label_multiplier.multipliers(gain)) == HINT


def test_scratch_at_one_size_says_why_there_is_none():
    f = frame_of({("scratch", None, 5): [0.5, 0.6], ("pretrained", 0, 5): [0.7, 0.7]})
    m = label_multiplier.build(f)
    assert m.table.empty and m.lead == "" and "two or more sizes" in m.missing


def test_lead_names_the_best_variant_at_the_smallest_size_and_json_keeps_infinity():
    f = analysis.runs_frame(synth_runs(sizes=(1, 5, 20, 50), seeds=3, epochs=4))
    m = label_multiplier.build(f)
    best = m.table[m.table["size"] == 1].sort_values("mean_diff").iloc[-1]
    assert m.lead == label_multiplier.sentence(best) and m.lead.startswith("With 1 labelled image per class")
    assert len(m.lines) == len(m.table) == 2 * 4
    rows = json.loads(json.dumps(label_multiplier.export_rows(m.table)))
    assert {r["case"] for r in rows} <= {"interpolated", "above range", "extrapolated", "beyond projection", "not reached"}
    assert all(r["k_high"] == "inf" for r in rows if r["case"] == "beyond projection")


# -- time saved ---------------------------------------------------------------------------------------
def test_time_saved_finds_the_scratch_size_and_seconds_that_match():
    runs = synth_runs(sizes=(2, 20, 200), seeds=3, epochs=10)
    table = time_saved.time_saved(analysis.epochs_frame(runs))
    assert len(table) == 2 * 3
    r = table[(table["variant"] == "pretrained, fine-tune all") & (table["size"] == 2)].iloc[0]
    # the synthetic scratch plateaus lower at equal size, so it needs a larger size to get there
    assert r["scratch_size"] > 2 and r["scratch_seconds"] > r["variant_seconds"] > 0
    assert "scratch needs" in time_saved.time_line(r) and "x the time" in time_saved.time_line(r)
    top = table[table["size"] == 200].iloc[0]
    assert math.isnan(top["scratch_seconds"])
    assert "does not reach it at any measured size" in time_saved.time_line(top)


# -- the chart -----------------------------------------------------------------------------------------
def test_chart_draws_fits_over_points_and_an_arrow_per_variant_and_size():
    f = analysis.runs_frame(synth_runs(sizes=(1, 5, 20, 50), seeds=3, epochs=4))
    table = label_multiplier.multipliers(f)
    fig = label_multiplier_chart(f, table)
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    labels = [a.text for a in fig.layout.annotations if not a.showarrow]
    assert len(labels) == len(table)
    # an arrow of no length (the largest size, already beyond what scratch reached there) is left out
    assert len(arrows) == len(table) - ((table["case"].isin(["above range", "beyond projection"]))
                                        & (table["k"] * table["size"] <= table["size"])).sum()
    finite = table[table["case"] == "interpolated"]
    for _, r in finite.iterrows():
        k = r["n_star"] / r["size"]
        assert (f"x {k:.2g}" if k < 10 else f"x {k:.0f}") in labels
    names = {t.name for t in fig.data if t.name}
    assert {"scratch", "pretrained, fine-tune all", "pretrained, linear probe"} <= names
    empty = label_multiplier_chart(f, table.iloc[0:0])
    assert "two or more sizes" in empty.layout.annotations[0].text
    # At one size the highest arrow is labelled above it, each lower one further below: no label prints
    # over another however close the variants' accuracies are.
    for size, rows in table.groupby("size"):
        shifts = {round(a.y, 6): a.yshift for a in fig.layout.annotations
                  if not a.showarrow and a.y in set(100 * rows["target_acc"])}
        ordered = [shifts[round(y, 6)] for y in sorted(100 * rows["target_acc"], reverse=True)]
        assert ordered[0] > 0 and all(b < a for a, b in zip(ordered, ordered[1:], strict=False)), (size, ordered)


def test_a_rise_within_seed_noise_is_flat():
    f = frame_of({("scratch", None, 3): [0.099, 0.101], ("scratch", None, 6): [0.10, 0.10], ("scratch", None, 12): [0.098, 0.104],
                  ("pretrained", "all", 3): [0.10, 0.10]})
    r = only(label_multiplier.multipliers(f), 3, "pretrained, linear probe")
    assert r["case"] == "flat" and "by more than seed noise" in label_multiplier.sentence(r)


# -- a real digits experiment, trained by the worker, on every face ----------------------------------
@pytest.mark.slow
def test_a_real_experiment_shows_its_multiplier_in_every_report_format(finished_home):
    from tlcompare.report import render_report
    from tlcompare.store import Store

    home, experiment_id = finished_home
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOMPARE_HOME", str(home))
        store = Store(home / "tlcompare.db")
        runs = [r for r in store.experiment_runs(experiment_id) if r["status"] == "done"]
        m = label_multiplier.build(analysis.runs_frame(runs), analysis.epochs_frame(runs))
        assert m.lead and len(m.table) == 4  # fine-tune all and linear probe at 2 and 5 per class
        # These tiny runs end underfit: every face's lead says so after the sentence.
        caveat = convergence.lead_caveat(convergence.flags_frame(runs))
        assert caveat.startswith("(Careful: ")
        formats = {fmt: render_report(store, [experiment_id], fmt).decode() for fmt in ("csv", "json", "md", "tex", "html")}
        store.close()

    doc = json.loads(formats["json"])["experiments"][0]
    assert [(r["variant"], r["size"], r["case"]) for r in doc["label_multiplier"]] == \
        [(r["variant"], r["size"], r["case"]) for _, r in m.table.iterrows()]
    csv = pd.read_csv(io_text(formats["csv"]))
    for _, r in m.table.iterrows():
        cells = csv.loc[(csv["variant"] == r["variant"]) & (csv["size"] == r["size"]), "label_multiplier_case"]
        assert len(cells) and (cells == r["case"]).all()
    assert csv.loc[csv["arm"] == "scratch", "label_multiplier_case"].isna().all()
    assert f"**{m.lead} {caveat}**" in markdown_plain(formats["md"])  # in bold above the table of K
    assert "tab:tlcompare-1-multiplier" in formats["tex"] or f"tab:tlcompare-{experiment_id}-multiplier" in formats["tex"]
    html = formats["html"]
    assert 'class="answer multiplier"' in html and html.index("answer multiplier") < html.index('class="answer"')
    assert 'data-key="multiplier"' in html


def io_text(text: str):
    import io

    return io.StringIO(text)


def markdown_plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def test_time_saved_gives_no_ratio_for_a_probe_on_cached_features():
    runs = synth_runs(sizes=(2, 20, 200), seeds=2, epochs=5, freezes=("all",))
    for r in runs:
        if r["arm"] == "pretrained":
            r["feature_cache"] = "reused"
    m = label_multiplier.build(analysis.runs_frame(runs), analysis.epochs_frame(runs), runs=runs)
    assert m.times["features_cached"].all() and m.times["speedup"].isna().all()
    assert all("the frozen body's features were computed once" in line and "x the time" not in line for line in m.time_lines)


def test_shared_curves_are_keyed_by_content_and_change_no_answer():
    """multipliers() fits scratch's resampled curves once for every variant and size (one set of seed
    resamples): each row equals the same estimate computed on its own, and a walk from other data
    inside the same shared block gets its own curves, not the remembered ones."""
    frame = analysis.runs_frame(synth_runs(sizes=(1, 2, 5, 10, 20), seeds=3, epochs=3, freezes=(0, "all")))
    table = label_multiplier.multipliers(frame, n_boot=300)
    done = frame[frame["status"] == "done"]
    seeds = sorted(done["seed"].unique())
    sizes, acc = label_multiplier._matrix(done[done["arm"] == "scratch"], "test_acc", seeds)
    assert len(table) == 10
    for _, r in table.iterrows():
        at = done[(done["variant"] == r["variant"]) & (done["size"] == r["size"])].groupby("seed")["test_acc"].mean()
        alone = label_multiplier.estimate(sizes, acc, at.reindex(seeds).to_numpy(float), int(r["size"]), n_boot=300)
        for key in ("k", "k_low", "k_high", "n_star", "case"):
            assert alone[key] == r[key] or (isinstance(alone[key], float) and math.isnan(alone[key]) and math.isnan(r[key]))
    with anchored.shared_curves():
        first = anchored.reach([1, 2, 5, 10], np.array([0.2, 0.4, 0.6, 0.7]), [3, 3, 3, 3], 0, gap=0.1)
        other = anchored.reach([1, 2, 5, 10], np.array([0.1, 0.2, 0.3, 0.35]), [3, 3, 3, 3], 0, gap=0.1)
    assert first["n_star"][0] != other["n_star"][0]
    assert other["n_star"][0] == anchored.reach([1, 2, 5, 10], np.array([0.1, 0.2, 0.3, 0.35]), [3, 3, 3, 3], 0, gap=0.1)["n_star"][0]


def test_shared_curves_are_kept_per_thread_and_dropped_when_closed():
    import threading

    seen = {}

    def other_thread():  # a second dashboard session analysing meanwhile: no memo of ours, none left behind
        seen["inside"] = anchored._memo.get()
        with anchored.shared_curves():
            seen["own"] = anchored._memo.get()

    with anchored.shared_curves():
        ours = anchored._memo.get()
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert anchored._memo.get() is ours  # the other thread's closing left ours open
    assert seen["inside"] is None and seen["own"] is not ours and anchored._memo.get() is None
