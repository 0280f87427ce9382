"""The verdict's statistics against scipy, and its sentences on the cases a reviewer would check."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from synthetic_runs import runs_with_images, synth_runs

from tlcompare.analysis import frames as analysis
from tlcompare.analysis import verdict
from tlcompare.analysis.paired_stats import holm, mcnemar, sign_flip_p, t_interval
from tlcompare.analysis.view import analyse
from tlcompare.store.correct_bits import pack_correct, unpack_correct
from tlcompare.text.summaries import results_lines


def judged(runs, spec=None, n_test=None):
    return verdict.build(analysis.runs_frame(runs), spec or {"epochs": 30}, n_test)


def every_text(v: verdict.Verdict) -> str:
    return " ".join([v.answer, *v.lines, *v.caveats, v.method])


# -- the statistics ---------------------------------------------------------------------------------
def test_per_image_results_pack_small_and_come_back_exactly():
    rng = np.random.default_rng(1)
    for n in (0, 1, 7, 8, 9, 360, 10_000):
        bits = rng.random(n) < 0.7
        text = pack_correct(bits)
        assert np.array_equal(unpack_correct(text), bits)
    assert len(pack_correct(np.ones(10_000, bool))) < 1_800
    for bad in (None, "", "abc", "5:not base64!", "100:AAAA", "-1:"):
        assert unpack_correct(bad) is None


def test_mcnemar_is_scipys_exact_binomial_test_on_the_discordant_images():
    rng = np.random.default_rng(2)
    for n, pa, pb in [(360, 0.8, 0.7), (50, 0.5, 0.5), (2000, 0.91, 0.9), (12, 0.9, 0.1)]:
        a, b = rng.random(n) < pa, rng.random(n) < pb
        only_a, only_b, p = mcnemar(a, b)
        assert (only_a, only_b) == (int((a & ~b).sum()), int((b & ~a).sum()))
        assert p == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-9)
    same = rng.random(40) < 0.5
    assert mcnemar(same, same) == (0, 0, 1.0)


def test_the_test_over_images_with_several_seeds_is_scipys_exact_sign_flip_test():
    rng = np.random.default_rng(3)
    for seeds in (2, 3, 5):
        k = rng.integers(-seeds, seeds + 1, size=15)
        exact = stats.permutation_test((k.astype(float),), np.sum, permutation_type="samples",
                                       n_resamples=2**16, alternative="two-sided")
        assert sign_flip_p(k) == pytest.approx(exact.pvalue, rel=1e-9)
    # Large test sets take the FFT path; the normal approximation of the sign-flip sum agrees.
    k = rng.integers(-3, 4, size=20_000) + (rng.random(20_000) < 0.02)
    z = k.sum() / np.sqrt((k.astype(float) ** 2).sum())
    assert sign_flip_p(k) == pytest.approx(2 * stats.norm.sf(abs(z)), rel=0.05)


def test_seed_interval_is_scipys_t_interval_and_zero_spread_gives_none():
    diffs = np.array([0.05, 0.11, 0.02, 0.08])
    half, sd = t_interval(diffs)
    lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
    assert (diffs.mean() - half, diffs.mean() + half) == pytest.approx((lo, hi))
    assert sd == pytest.approx(np.std(diffs, ddof=1))
    assert np.isnan(t_interval([0.003, 0.003])[0]) and t_interval([0.003, 0.003])[1] == 0
    assert 101 / 360 - 100 / 360 != 121 / 360 - 120 / 360  # float round-off: still no interval
    assert np.isnan(t_interval([101 / 360 - 100 / 360, 121 / 360 - 120 / 360])[0])
    assert np.isnan(t_interval([0.1])[0])


def test_holm_adjusts_step_down_and_leaves_missing_tests_out_of_the_family():
    # Holm (1979): sorted p times (m, m-1, ...), made monotone, capped at 1.
    adjusted = holm([0.01, 0.04, 0.03, np.nan, 0.005])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3]) and adjusted[4] == pytest.approx(0.02)
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    assert holm([np.nan]).tolist() != holm([np.nan]).tolist()  # NaN stays NaN


# -- the cases from the issue ------------------------------------------------------------------------
def issue_runs(statuses=None):
    """Digits-like: fine-tune all wins clearly at 5 and 20 per class and is within noise at 100;
    the linear probe wins at 5 and 20 and is far behind scratch at 100."""
    scratch = {5: [0.30, 0.33, 0.28], 20: [0.60, 0.62, 0.58], 100: [0.80, 0.82, 0.79]}
    return runs_with_images({
        **{("scratch", None, s): a for s, a in scratch.items()},
        ("pretrained", 0, 5): [0.61, 0.62, 0.60], ("pretrained", 0, 20): [0.80, 0.83, 0.79],
        ("pretrained", 0, 100): [0.82, 0.81, 0.81],
        ("pretrained", "all", 5): [0.55, 0.57, 0.54], ("pretrained", "all", 20): [0.66, 0.69, 0.65],
        ("pretrained", "all", 100): [0.65, 0.665, 0.645],
    }, statuses=statuses)


def test_probe_significantly_worse_while_fine_tune_all_is_within_noise_says_both():
    v = judged(issue_runs())
    line = next(x for x in v.lines if x.startswith("With 100 images per class"))
    assert "fine-tune all is within noise (+1.0 points, 4 test images, 95% CI" in line
    assert "linear probe is significantly worse than scratch (-15.0 points, 95% CI" in line
    assert line.endswith("Best of 2: fine-tune all.")
    assert v.answer.startswith("The best of 2 pretrained variants (Holm-corrected over 6 comparisons) wins up to 20 "
                               "images per class")
    assert "from 100 per class the difference is within noise" in v.answer
    assert "Linear probe is significantly worse than scratch at 100 images per class." in v.answer
    # each variant has its own interval, and the best at 100 is the one every page shows
    comp = v.comparisons.set_index(["variant", "size"])
    assert comp.loc[("pretrained, linear probe", 100), "ci_high"] < 0 < comp.loc[("pretrained, fine-tune all", 100), "ci_high"]
    assert v.best.set_index("size").loc[100, "variant"] == "pretrained, fine-tune all"
    # Every gain names its variant: the headline, and the answer when it speaks of "the best of K".
    assert verdict.headline(analysis.runs_frame(issue_runs())) == ("best of 2 pretrained vs scratch: 5/class +30.7 pts "
                                                                   "(fine-tune all), 100/class +1.0 pts (fine-tune all)")
    assert "Best: fine-tune all at every size." in v.answer
    assert "Budget: equal epochs for both arms of every pair (30 per run)." in v.caveats


def test_the_test_set_test_sits_beside_the_seed_interval_and_is_holm_corrected():
    runs = issue_runs()
    v = judged(runs)
    comp = v.comparisons.set_index(["variant", "size"])
    probe = comp.loc[("pretrained, linear probe", 100)]
    assert probe["test_images"] == 400 and probe["test_p"] < 1e-6 and len(probe["mcnemar"]) == 3
    # recomputed by hand from the stored bits: the seed-averaged per-image difference, tested over images
    frame = analysis.runs_frame(runs)
    bits = {(r.variant, r.seed): unpack_correct(r.test_correct).astype(int) for r in frame[frame["size"] == 100].itertuples()}
    k = sum(bits[("pretrained, fine-tune all", s)] - bits[("scratch", s)] for s in range(3))
    fine = comp.loc[("pretrained, fine-tune all", 100)]
    assert fine["test_p"] == pytest.approx(sign_flip_p(k))
    only_pre, only_scratch, p0 = fine["mcnemar"][0]
    a, b = bits[("pretrained, fine-tune all", 0)], bits[("scratch", 0)]
    assert p0 == pytest.approx(stats.binomtest(int((a > b).sum()), int((a != b).sum()), 0.5).pvalue)
    assert comp["test_p_holm"].to_numpy() == pytest.approx(holm(comp["test_p"]))
    assert comp["p_holm"].to_numpy() == pytest.approx(holm(comp["p_value"]))
    assert "test set p" in " ".join(v.lines) and not any("unavailable" in c for c in v.caveats)
    assert v.method.startswith("Significant: at the 95 % level, Holm-corrected over 6 comparisons (2 variants x 3 sizes), "
                               "both over seeds")
    # where some comparisons lack the test-set test, both family sizes are named
    runs[0]["test_correct"] = None
    mixed = judged(runs)
    assert "(Holm-corrected over 6 (seeds) and 4 (test set) comparisons)" in mixed.answer


def test_seeds_that_agree_on_a_gap_the_test_set_cannot_confirm_are_not_a_win():
    # +2, +3, +2 test images of 400 on every seed: consistent over seeds, tiny on the test set.
    v = judged(runs_with_images({("scratch", None, 50): [0.800, 0.790, 0.810],
                                 ("pretrained", 0, 50): [0.805, 0.7975, 0.815]}))
    r = v.comparisons.iloc[0]
    assert r["p_holm"] < 0.05 and r["test_p_holm"] > 0.05 and r["outcome"] == "test set unsure"
    assert "within the noise of this test set" in v.lines[0] and "within noise at 50" in v.answer
    assert "wins" not in v.answer


def test_zero_spread_says_the_seeds_agree_and_gives_no_interval():
    # Both seeds: pretrained gets exactly one more of 360 test images right.
    v = judged(runs_with_images({("scratch", None, 5): [100 / 360, 120 / 360], ("pretrained", 0, 5): [101 / 360, 121 / 360]},
                                n_test=360))
    text = every_text(v)
    assert "fine-tune all: all 2 seeds agree (+0.3 points, one test image); too few to give an interval" in v.lines[0]
    assert not re.search(r"[+]/- 0\.0(?![0-9])", text) and "0 to 0" not in text and "wins" not in v.answer
    assert "cannot be judged yet (too few seeds) at 5 images per class" in v.answer
    cli = "\n".join(results_lines(analyse(issue_runs()[:0] + runs_with_images(
        {("scratch", None, 5): [100 / 360, 120 / 360], ("pretrained", 0, 5): [101 / 360, 121 / 360]}, n_test=360))))
    assert "no interval" in cli and "[+0.3, +0.3]" not in cli and "all 2 seeds agree" in cli


def test_one_seed_gives_no_interval_and_says_so():
    v = judged(runs_with_images({("scratch", None, 5): [0.30], ("pretrained", 0, 5): [0.61],
                                 ("scratch", None, 50): [0.80], ("pretrained", 0, 50): [0.805]}))
    assert v.answer == ("Pretrained (fine-tune all) leads by 31.0 points at 5 and 0.5 points at 50 images per class "
                        "(one seed: no interval).")
    assert v.lines[0].startswith("With 5 images per class (1 seed): fine-tune all +31.0 points (1 seed: no interval; "
                                 "test set p < 0.001")
    assert "fine-tune all +0.5 points, 2 test images (1 seed: no interval; test set p = 0." in v.lines[1]
    assert any(c.startswith("One seed per size: no confidence interval yet") for c in v.caveats)


def test_one_seed_with_several_variants_names_the_leader_at_each_size():
    v = judged(runs_with_images({("scratch", None, 5): [0.30], ("pretrained", 0, 5): [0.49],
                                 ("pretrained", "all", 5): [0.53], ("scratch", None, 50): [0.80],
                                 ("pretrained", 0, 50): [0.86], ("pretrained", "all", 50): [0.82]}))
    assert v.answer == ("The best of 2 pretrained variants leads by 23.0 points at 5 (linear probe) and 6.0 points at "
                        "50 (fine-tune all) images per class (one seed: no interval).")
    assert verdict.headline(analysis.runs_frame(runs_with_images({("scratch", None, 5): [0.30],
                                                                  ("pretrained", "all", 5): [0.53]}))) == \
        "pretrained vs scratch: 5/class +23.0 pts (linear probe)"


def test_incomplete_pairs_are_counted_by_what_happened():
    # 3 sizes x 3 seeds x 2 variants = 18 pairs; scratch at 5/class seed 0 diverged (2 pairs), one probe failed.
    runs = issue_runs(statuses={("scratch", None, 5, 0): "diverged", ("pretrained", "all", 20, 2): "failed"})
    v = judged(runs)
    assert ("3 of 18 pairs incomplete (2 diverged, 1 failed); the comparisons use the 15 complete pairs, which can "
            "favour the runs that survived") in " ".join(v.caveats)
    assert v.comparisons.set_index(["variant", "size"]).loc[("pretrained, fine-tune all", 5), "n_pairs"] == 2
    queued = judged(issue_runs(statuses={("pretrained", 0, 100, 2): "queued"}))
    assert "1 of 18 pairs incomplete (1 not finished yet)." in queued.caveats
    assert not any("incomplete" in c for c in judged(issue_runs()).caveats)


def test_runs_stored_without_per_image_results_say_the_test_set_test_is_unavailable():
    runs = issue_runs()
    for r in runs:
        r.pop("test_correct")
    v = judged(runs)
    assert v.comparisons["test_p"].isna().all()
    assert any(c.startswith("Test-set test unavailable: their runs were stored before") for c in v.caveats)
    assert "Linear probe is significantly worse than scratch at 100" in v.answer  # the seeds still speak
    cli = "\n".join(results_lines(analyse(runs, {"epochs": 30})))
    assert "Test-set test unavailable" in cli
    # a mix: only some comparisons lack it
    runs = issue_runs()
    runs[0]["test_correct"] = None
    assert any("Test-set test unavailable for 2 of 6 comparisons" in c for c in judged(runs).caveats)


def test_the_budget_is_read_from_the_stored_spec():
    assert verdict.budget_text({"epochs": 20}) == "Budget: equal epochs for both arms of every pair (20 per run)."
    assert verdict.budget_text({"budget": "steps"}).startswith("Budget: equal optimizer steps")
    assert verdict.budget_text({"budget": "converged"}).startswith("Budget: each run trained until its validation")
    assert verdict.budget_text(None) == "Budget: equal epochs for both arms of every pair."


def test_the_big_synthetic_grid_still_reads_as_a_win_everywhere():
    frame = analysis.runs_frame(synth_runs())
    v = verdict.build(frame, {"epochs": 20})
    assert v.answer.startswith("The best of 2 pretrained variants (Holm-corrected over 16 comparisons) wins at every "
                               "size tested (1 to 200 images per class)")
    assert len(v.lines) == 8 and v.lines[0].startswith("With 1 image per class (5 seeds)")
    assert verdict.build(pd.DataFrame()).answer == "No finished scratch/pretrained pairs yet."


def test_differences_of_a_few_test_images_are_named():
    assert verdict.diff_text(1 / 360, 360) == "+0.3 points, one test image"
    assert verdict.diff_text(0.5 / 360, 360) == "+0.1 points, less than one test image"
    assert verdict.diff_text(-2 / 400, 400) == "-0.5 points, 2 test images"
    assert verdict.diff_text(-1.5 / 400, 400) == "-0.4 points, 1.5 test images"
    assert verdict.diff_text(0.2, 400) == "+20.0 points"
    assert verdict.diff_text(0.0, 400) == "0.0 points"
