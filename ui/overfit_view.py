"""Results' Overfitting tab: one size and seed at a time, a panel per variant, and the gap of every run."""

from __future__ import annotations

import streamlit as st

from tlcompare.analysis.overfitting import AUGMENTED, AUGMENTED_BELOW_VALIDATION, HINT, gaps_display
from tlcompare.analysis.view import ResultsView
from tlcompare.charts.figures import at_resolution
from tlcompare.charts.overfit import overfit_chart
from ui import presentation
from ui.kept import keep, kept_index


def render(view: ResultsView, large: bool, plot: dict) -> None:
    curves, gaps = view.overfit_curves, view.overfit_gaps
    if gaps.empty:
        st.info("No finished runs yet.")
        return
    with st.container(key="controls_overfit", horizontal=True):
        sizes, seeds = sorted(gaps["size"].unique()), sorted(gaps["seed"].unique())
        size = keep("overfit_size", st.selectbox("Size (per class)", sizes, index=kept_index("overfit_size", sizes),
                                                 key="overfit_size"))
        seed = keep("overfit_seed", st.selectbox("Seed", seeds, index=kept_index("overfit_seed", seeds), key="overfit_seed"))
    st.plotly_chart(at_resolution(overfit_chart(curves, gaps, size, seed, large=large), view.spec.get("image_size")),
                    key="overfit", **plot)
    st.caption(f":material/lightbulb: {HINT}")
    st.markdown("##### The gap of every run (reported model)")
    presentation.table(gaps_display(gaps), key="overfit_table",
                       column_config={"gap (points)": st.column_config.NumberColumn(format="%+.1f"),
                                      "train acc (no augmentation)": st.column_config.NumberColumn(format="%.1f%%"),
                                      "val acc": st.column_config.NumberColumn(format="%.1f%%")})
    if gaps["gap"].isna().any():
        st.caption(":material/info: Runs trained before the plain training accuracy was recorded have no gap: "
                   "their only training accuracy is on augmented batches, which does not measure fitting.")
    if (curves["train_measured"] == AUGMENTED).any():
        st.caption(":material/info: Dotted training lines: older runs, measured on augmented batches only.")
    st.caption(f":material/help: {AUGMENTED_BELOW_VALIDATION} Here training accuracy is measured on the plain "
               "training images instead.")
