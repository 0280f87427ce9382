"""The dataset's facts for the New experiment form, which never holds the page while a dataset is
read for the first time.

Decoding a dataset (a folder of photos, a download's archive) can take seconds to minutes; the
facts (split sizes, the largest size per class) are read in their own process
(``tlcompare.data.facts_background``). Until they are in, the form says "reading…" and a fragment
looks again every second, then reruns the page; the rest of the form stays usable meanwhile, only
Start waits (the sizes it would queue are checked against the facts).
"""

from __future__ import annotations

import streamlit as st

from tlcompare.data.facts import DatasetFacts
from tlcompare.data.facts_background import facts_or_start, forget
from tlcompare.spec import ExperimentSpec
from tlcompare.text.escape import markdown_safe

POLL_SECONDS = 1.0
_SPLIT = ExperimentSpec()  # the form's split: the defaults


def _ask(name: str):
    return facts_or_start(name, None, _SPLIT.val_fraction, _SPLIT.test_fraction, _SPLIT.split_seed)


def render(name: str) -> tuple[DatasetFacts | None, bool]:
    """(facts, still reading): the facts when known; says so on the page while they are read.
    While reading, the page must call ``wait`` after its last widget."""
    state = _ask(name)
    if state.failed:
        st.warning(f"Reading this dataset failed: {markdown_safe(state.failed)}", icon=":material/error:")
        st.button("Read it again", type="tertiary", icon=":material/refresh:", key="facts_again",
                  on_click=forget, args=(name, None, _SPLIT.val_fraction, _SPLIT.test_fraction, _SPLIT.split_seed))
        return None, False
    if state.reading:
        st.caption(":material/hourglass_top: Reading the dataset to hold out its validation and test images "
                   "(the first time, its images are decoded): the largest size per class and the time estimate "
                   "follow. The form stays usable meanwhile.")
        return None, True
    return state.facts, False


def wait(name: str) -> None:
    """Look again every second; rerun the page once the facts are in.

    Called after the form's last widget: a fragment's first timed rerun can stop the page's first
    run where the fragment stands, and widgets the stopped run never reached came back at their
    defaults (min values, first options) instead of the form's values.
    """
    @st.fragment(run_every=POLL_SECONDS)
    def reading() -> None:
        if not _ask(name).reading:
            st.rerun(scope="app")  # the facts are in: the sizes, the estimate and Start use them

    reading()
