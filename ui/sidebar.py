"""The sidebar under the page list: this machine's device, the worker's state, quick links."""

from __future__ import annotations

import streamlit as st

from tlcompare.device_summary import device_summary as summary_of_this_machine
from tlcompare.store import default_path
from tlcompare.text.escape import markdown_safe
from tlcompare.worker.control import worker_state
from ui import errors, paths, presentation, ray_panel
from ui.state import ACTIVE, store


@st.cache_resource(show_spinner=False)
def device_summary() -> dict:
    """Name and memory of the GPU training would use, or the CPU; looked up once per process (and
    kept on disk per machine and setting: tlcompare/device_summary.py)."""
    return summary_of_this_machine()


_WORKER_TEXT = {  # state: (icon, colour, badge, what it means)
    "running": (":material/play_circle:", "green", "training", "training a run"),
    "idle": (":material/pause_circle:", "blue", "idle", "idle, waiting for work"),
    "starting": (":material/hourglass_top:", "orange", "starting", "starting…"),
    "stopping": (":material/stop_circle:", "orange", "stopping", "stopping…"),
    "stopped": (":material/power_settings_new:", "gray", "not running", "starts with the next experiment"),
    "dead": (":material/error:", "red", "stopped unexpectedly", "restarts with the next experiment"),
    "none": (":material/power_settings_new:", "gray", "not started yet", "starts with the first experiment"),
}


def worker_words(state: str) -> str:
    """The worker's state as the sidebar's badge says it: 'not started yet', never 'none'."""
    return _WORKER_TEXT.get(state, ("", "", state, ""))[2]


# Each poll is a script run of its own: about 0.015 CPU-seconds of the server since Streamlit's
# garbage collection after every run is off (.streamlit/config.toml), 0.15-0.2 with it. Every 30 s
# while something trains or waits, once a minute when nothing does (docs/benchmarks.md); Live shows
# the training itself, polling on its own.
POLL_BUSY_SECONDS = 30
POLL_IDLE_SECONDS = 60


def _worker_status(polling_every: int) -> None:
    with errors.shown_as_message():  # a fragment reruns on its own, outside app.py's guard
        _worker_lines()
        if _poll_seconds() != polling_every:
            st.rerun(scope="app")  # work started or ended elsewhere: poll at the other rate from now on


def _poll_seconds() -> int:
    busy = worker_state(store=store())["state"] in ("running", "starting", "stopping") or any(
        e["status"] in ACTIVE for e in store().list_experiments())
    return POLL_BUSY_SECONDS if busy else POLL_IDLE_SECONDS


def _worker_lines() -> None:
    state = worker_state(store=store())
    icon, color, badge, text = _WORKER_TEXT.get(state["state"], (":material/help:", "gray", state["state"], ""))
    st.markdown(f"**Worker** &nbsp; :{color}-badge[{icon} {badge}]")
    # Polled every 30 s while runs of a few seconds each go by: which run, or how many are done, would
    # lag Live's table (polled every 2 s) by a run or more. The sidebar says only what stays true that
    # long, the experiment in training; Live says which run.
    detail = text
    if state.get("experiment_id") is not None:
        detail = f"training experiment #{state['experiment_id']}"
    st.caption(markdown_safe(detail))
    ray_panel.cluster_lines()
    active = [e for e in store().list_experiments() if e["status"] in ACTIVE]
    if active:
        e = active[0]
        st.page_link(paths.LIVE, label=f"Watch #{e['id']} live", icon=":material/monitoring:",
                     query_params={"exp": str(e["id"])})


def render() -> None:
    with st.sidebar:
        dev = device_summary()
        icon = ":material/memory:" if dev["gpu"] else ":material/computer:"
        st.markdown(f"**Device** &nbsp; {icon} {dev['name']}")
        st.caption(dev["detail"])
        every = _poll_seconds()
        st.fragment(_worker_status, run_every=every)(every)
        ray_panel.controls()
        st.divider()
        presentation.toggle()
        with st.expander("Help and links", icon=":material/help:"):
            st.markdown(
                "- **New experiment**: pick a question, see the cost, start.\n"
                "- **Live**: progress, curves, cancel. Closing the tab never stops training.\n"
                "- **Results**: the verdict, then six tabs: the answer, freezing depth, learning curves, overfitting, "
                "time, mistakes.\n"
                "- **Report**: the same as HTML, PDF, CSV, JSON, Markdown or LaTeX, for one experiment or several.\n"
                "- **History**: rename, delete, pin a baseline.\n\n"
                "The same experiments from a terminal: `tlcompare ls`, `tlcompare show ID`.\n\n"
                "[Paired comparison, explained](https://en.wikipedia.org/wiki/Paired_difference_test) · "
                "[Freezing and fine-tuning (Yosinski et al. 2014)](https://arxiv.org/abs/1411.1792) · "
                "[Rethinking ImageNet pre-training (He et al. 2019)](https://arxiv.org/abs/1811.08883)"
            )
            st.caption(f"Store: {markdown_safe(default_path())}")
