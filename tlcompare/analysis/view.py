"""The analysed experiment: what the Results page, the report and ``tlcompare show`` all read.

``analyse(runs, spec, environment)`` gives one ``ResultsView`` of an experiment: the verdict, the
label multiplier (its lead naming the verdict's best variant), the paired table, the convergence
flags, the random-features control and the frames behind every chart. Each face only lays it out,
so the page, the report and the terminal cannot tell two stories about one experiment.

Each part is computed the first time it is read and then kept: a CSV export never pays for the
charts' frames, Report's preview never for the epochs, and the Results page, which keeps the view
per experiment content (ui/cached.py), computes each part once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import pandas as pd

from tlcompare.analysis import (
    controls,
    convergence,
    label_multiplier,
    overfitting,
    tuning,
    validation,
    verdict,
)
from tlcompare.analysis import frames as analysis

FINISHED = ("done", "diverged")
NOTHING_FINISHED = "No run of this experiment has finished yet."


@dataclass(frozen=True)
class ResultsView:
    """One experiment's results. Each part is computed the first time it is read, then kept; every
    frame is read-only (the page's cache hands the same object to every session)."""
    spec: dict = field(repr=False)
    environment: dict = field(repr=False)
    runs: list[dict] = field(repr=False)  # every run, any status (under tune = "lr", every rate of every grid)
    # The multiplier the store kept for this content (analysis/kept.py), or None: computed when read.
    kept_multiplier: label_multiplier.Multiplier | None = field(default=None, repr=False)

    @cached_property
    def tuning(self) -> tuning.Tuning:
        """Under tune = "lr", each arm's best rate per size on validation (analysis/tuning.py); the
        compared runs are that rate's. Without a grid, every run."""
        return tuning.choose(self.runs)

    @property
    def compared(self) -> list[dict]:
        """The runs every comparison reads (any status): the chosen rate's, when rates were tuned."""
        return self.tuning.runs

    @cached_property
    def finished(self) -> list[dict]:
        """Done and diverged compared runs (a diverged run is a result too)."""
        return [r for r in self.compared if r["status"] in FINISHED]

    @cached_property
    def frame(self) -> pd.DataFrame:
        """One row per finished run with its final metrics."""
        return analysis.runs_frame(self.finished)

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """One row per finished run and epoch."""
        return analysis.epochs_frame(self.finished)

    @cached_property
    def pairs(self) -> list:
        """Each non-scratch variant and size with its done runs and their scratch partners (same size and
        seed): paired once, read by the differences, the table and the verdict."""
        return list(analysis.paired_runs(self.frame))

    @cached_property
    def diffs(self) -> pd.DataFrame:
        """Every other variant minus scratch, paired on size and seed."""
        return analysis.paired_differences(self.frame, pairs=self.pairs) if not self.frame.empty else pd.DataFrame()

    @cached_property
    def table(self) -> pd.DataFrame:
        """Accuracy and paired gain per variant and size: the table that answers the question."""
        return analysis.results_table(self.frame, diffs=self.diffs) if not self.frame.empty else pd.DataFrame()

    @cached_property
    def verdict(self) -> verdict.Verdict:
        """Every pretrained variant against scratch, from every run: unfinished pairs are counted too.
        Provisional, said first, while any run did not finish learning."""
        # The verdict reads every run (unfinished ones count the incomplete pairs); its pairs are the done
        # runs', the same as the finished frame's.
        judged = verdict.build(analysis.runs_frame(self.compared), self.spec, self.environment.get("n_test"),
                               pairs=self.pairs)
        if self.spec.get("image_sizes") and judged.answer:  # one resolution of a sweep: say which
            judged = replace(judged, answer=f"At {self.spec.get('image_size')} px: {judged.answer}")
        first = convergence.provisional(self.flags)
        if first and judged.answer:
            judged = replace(judged, answer=f"{first} {judged.answer}")
        lines = [validation.validation_line(self.compared, self.spec, self.environment),
                 self.tuning.summary() or tuning.untuned_note(self.finished)]
        return replace(judged, caveats=[*judged.caveats, *filter(None, lines)])

    @cached_property
    def multiplier(self) -> label_multiplier.Multiplier:
        """The label multiplier and the time saved; its lead names the verdict's best variant, and says
        so when runs did not finish learning (the figure may then measure the budget, not the data)."""
        m = self.computed_multiplier
        caveat = convergence.lead_caveat(self.flags)
        return replace(m, lead=f"{m.lead} {caveat}") if m.lead and caveat else m

    @cached_property
    def computed_multiplier(self) -> label_multiplier.Multiplier:
        """The multiplier as ``label_multiplier.build`` gives it (what the store keeps): the kept one when
        there is one, else computed from the frames."""
        if self.kept_multiplier is not None:
            return self.kept_multiplier
        return label_multiplier.build(self.frame, self.epochs, runs=self.finished, best=self.best)

    @property
    def best(self) -> pd.DataFrame:
        """The best pretrained variant per size (``verdict.best_per_size``): the metrics under the answer."""
        return self.verdict.best

    @property
    def answer(self) -> str:
        return self.verdict.answer if not self.frame.empty else NOTHING_FINISHED

    @property
    def verdict_lines(self) -> list[str]:
        """The lines under the answer: each size, what limits the answer, what 'significant' means."""
        if self.frame.empty:
            return []
        v = self.verdict
        return [*v.lines, *v.caveats, *([v.method] if v.method else [])]

    # -- what the comparison rests on -------------------------------------------------------------------
    @cached_property
    def flags(self) -> pd.DataFrame:
        """Convergence flags, one row per done run, with the fix for each flagged one."""
        return convergence.flags_frame(self.finished)

    @cached_property
    def flag_lines(self) -> list[str]:
        return convergence.flag_lines(self.flags)

    @cached_property
    def flags_summary(self) -> str:
        return convergence.flags_summary(self.flags)

    @cached_property
    def budget(self) -> str:
        """Which budget the runs had, how long they trained and why they stopped."""
        return convergence.budget_line(self.finished)

    @cached_property
    def controls(self) -> list[str]:
        """Pretrained vs random features at the same freezing depth."""
        return controls.control_lines(self.frame) if not self.frame.empty else []

    # -- the frames behind the charts ---------------------------------------------------------------------
    @cached_property
    def summary(self) -> pd.DataFrame:
        return analysis.summary(self.frame)

    @cached_property
    def depth(self) -> pd.DataFrame:
        return analysis.depth_summary(self.frame)

    @cached_property
    def curves(self) -> pd.DataFrame:
        return analysis.learning_curves(self.epochs)

    @cached_property
    def training_time(self) -> pd.DataFrame:
        return analysis.training_time(self.frame)

    @cached_property
    def overfit_curves(self) -> pd.DataFrame:
        return overfitting.overfit_curves(self.finished)

    @cached_property
    def overfit_gaps(self) -> pd.DataFrame:
        return overfitting.overfit_gaps(self.finished)

    def time_to_target(self, target: float) -> pd.DataFrame:
        """Seconds to reach ``target`` validation accuracy per variant and size (the Time tab's slider), from
        the runs of one machine (as total training time); ``features_cached`` marks linear probes whose
        seconds are the head's only (the frozen body's features were computed once for the experiment);
        ``.attrs["left_out"]``: runs from other machines."""
        from tlcompare.analysis.time_saved import one_machine

        epochs = one_machine(self.epochs, self.frame) if not self.epochs.empty else self.epochs
        per_run = analysis.time_to_target(epochs, target) if not epochs.empty else epochs
        summary = analysis.time_to_target_summary(per_run)
        if not summary.empty:
            cached = {(analysis.variant(r["arm"], r.get("freeze")), r["size"]) for r in self.finished if r.get("feature_cache")}
            summary["features_cached"] = [(v, s) in cached for v, s in zip(summary["variant"], summary["size"], strict=True)]
        summary.attrs["left_out"] = epochs.attrs.get("left_out", 0) if not self.epochs.empty else 0
        return summary

    def labels_to_target(self, target: float | None = None) -> pd.DataFrame:
        """Images per class each arm needs to reach ``target`` test accuracy (default: the best pretrained
        mean measured), with intervals: ``label_multiplier.labels_to_target``."""
        if target is None:
            return self.multiplier.targets
        return label_multiplier.labels_to_target(self.frame, target)


def analyse(runs: list[dict], spec: dict | None = None, environment: dict | None = None,
            kept_multiplier: label_multiplier.Multiplier | None = None) -> ResultsView:
    """The view of an experiment from every one of its runs (unfinished ones count as incomplete
    pairs in the verdict). Runs read with ``test_correct`` get the verdict's test over test images;
    ``environment["n_test"]`` names differences of a few test images for runs without it.
    ``kept_multiplier``: the store's multiplier of exactly these runs (``Store.kept_multiplier``)."""
    return ResultsView(spec=spec or {}, environment=environment if environment is not None else {}, runs=runs,
                       kept_multiplier=kept_multiplier)
