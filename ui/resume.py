"""Resume: queue a cancelled experiment's cancelled runs again and go watch them (Live and Results)."""

from __future__ import annotations

import streamlit as st

from tlcompare.worker import control as worker_control
from ui import errors, paths
from ui.state import remember_experiment, store

WORKER_IDLE_EXIT = 600  # as New experiment's: a worker started from here leaves after 10 idle minutes


def resume_button(experiment_id: int, key: str) -> None:
    """A Resume button; clicked, the cancelled runs are queued again (finished ones kept), a worker
    is started unless one is alive, and the page moves to Live."""
    if not st.button("Resume", icon=":material/play_arrow:", key=key, type="primary",
                     help="Queue the cancelled runs again; the finished runs are kept."):
        return
    with errors.shown_as_message():
        n = store().resume_experiment(experiment_id)
        if n:
            worker_control.ensure_worker(idle_exit=WORKER_IDLE_EXIT, store=store())
        remember_experiment(experiment_id)
        st.switch_page(paths.LIVE, query_params={"exp": str(experiment_id)})
