"""Live: how far the experiment is, how its runs are learning, and a way to stop it.

Everything shown comes from the store, so a refresh or a second tab shows exactly the same state,
and nothing here holds a training thread. Two polls, because every redraw is a script run of the
server's: the progress (bar, epoch and step) every five seconds, small and cheap; the curves and the
run table every fifteen, as rebuilding and sending the figure and the table costs about ten times
as much. Each reads the experiment's change stamp first and nothing more while it has not moved
(tlcompare/live/view.py).
"""

import streamlit as st

from tlcompare.charts import figures as charts
from tlcompare.live.table import bar_fraction, cancel_toast, cancelled_note, progress_line, training_line
from tlcompare.live.view import poll_progress, refresh
from tlcompare.store.rows import epochs_planned
from tlcompare.text.escape import markdown_safe
from tlcompare.worker.control import ensure_worker, worker_state
from ui import errors, paths, presentation
from ui.frame import ensure_frame
from ui.resume import resume_button
from ui.sidebar import worker_words
from ui.state import ACTIVE, experiment_or_stop, store, unless_deleted

ensure_frame()

# On the 2-core build VM a progress poll costs the server about 0.015 CPU-seconds, a redraw of the
# curves and the table about 0.13: a watching tab stays near 1 % of a core (docs/benchmarks.md), the
# step counter moves every few seconds and each epoch reaches the curves within fifteen.
PROGRESS_SECONDS = 5.0
CURVES_SECONDS = 15.0
WORKER_IDLE_EXIT = 600
STATUS_BADGE = {"running": "blue", "queued": "orange", "cancelling": "orange", "done": "green", "failed": "red",
                "cancelled": "gray"}

st.title("Live")
# No status in the list: it is read once per page load, while the view below updates live.
_, experiment = experiment_or_stop("live", prefer="active", empty="No experiments yet. Start one and watch it here.",
                                   with_status=False)

experiment_id = experiment["id"]
active_at_load = experiment["status"] in ACTIVE


def curves_view():
    """The runs, figure and table, read again only when an epoch ended or a run changed state."""
    key = f"live_view_{experiment_id}_{presentation.is_on()}"
    view = unless_deleted(experiment_id, lambda: refresh(
        store(), experiment_id, st.session_state.get(key), epochs_planned(experiment["spec"]),
        large=presentation.is_on()))
    st.session_state[key] = view
    return view


def progress_part() -> None:
    with errors.shown_as_message():
        key = f"live_progress_{experiment_id}"
        polled = unless_deleted(experiment_id, lambda: poll_progress(store(), experiment_id, st.session_state.get(key)))
        st.session_state[key] = polled
        progress = polled.progress
        status = progress["status"]
        if active_at_load and status not in ACTIVE:
            st.rerun(scope="app")  # finished: show the final state once and stop polling
        # The runs only for a finished experiment (how long it took, what failed): never read per poll.
        runs = None if status in ACTIVE else curves_view().runs

        head, cancel_col = st.columns([4, 1], vertical_alignment="center")
        color = STATUS_BADGE.get(status, "gray")
        head.markdown(f"### {markdown_safe(experiment['name'])} &nbsp; :{color}-badge[{status}]")
        with cancel_col, st.container(key="controls_cancel"):
            if status in ACTIVE and st.button("Cancel", icon=":material/stop_circle:", disabled=status == "cancelling",
                                              width="stretch", key="cancel"):
                n = store().request_cancel(experiment_id)
                st.toast(cancel_toast(n, len(progress["running"])), icon=":material/stop_circle:")
                st.rerun(scope="fragment")
        st.progress(bar_fraction(progress), text=progress_line(progress, runs))

        if status in ACTIVE:
            worker = worker_state(store=store())
            if not worker["alive"] and status != "cancelling":
                # The worker may have been stopped or died with the machine: bring one back; the
                # store re-queues whatever it was training.
                worker = ensure_worker(idle_exit=WORKER_IDLE_EXIT, store=store())
            running = progress["running"]
            if running:
                r = running[0]
                st.caption(f"Training {markdown_safe(r['label'])}: {training_line(r)}"
                           f" on {markdown_safe(r['device'] or 'its device')}.")
            else:
                st.caption(f"Waiting for the worker ({worker_words(worker['state'])}).")
        elif status == "done":
            st.success("Finished. Every run is in the store.", icon=":material/check_circle:")
            st.page_link(paths.RESULTS, label="Open the results", icon=":material/insights:",
                         query_params={"exp": str(experiment_id)})
        elif status in ("failed", "cancelled"):
            failed = [r for r in runs if r["status"] == "failed"]
            if failed:
                # The message quotes paths and names from the user's data: escaped, so none becomes a link or image.
                st.error(f"{len(failed)} runs failed. First error: {markdown_safe(failed[0]['error'])}",
                         icon=":material/error:")
            if any(r["status"] == "cancelled" for r in runs):
                st.warning(cancelled_note(runs), icon=":material/stop_circle:")
                resume_button(experiment_id, key="resume")
            if any(r["status"] == "done" for r in runs):
                st.page_link(paths.RESULTS, label="Open the results of the finished runs", icon=":material/insights:",
                             query_params={"exp": str(experiment_id)})


def curves_part() -> None:
    with errors.shown_as_message():
        view = curves_view()
        st.plotly_chart(view.figure, key="live_chart", theme=None, config={"displaylogo": False})
        st.caption(charts.HINTS["live"])
        table = view.table
        if not table["note"].astype(bool).any():
            table = table.drop(columns="note")
        presentation.table(
            table, key="live_runs", column_config={
                "run": st.column_config.NumberColumn("run", width="small"),
                "arm": st.column_config.TextColumn("arm"),
                "size": st.column_config.NumberColumn("size / class", width="small"),
                "seed": st.column_config.NumberColumn("seed", width="small"),
                "depth": st.column_config.TextColumn("frozen", width="small"),
                "epoch": st.column_config.TextColumn(
                    "steps" if experiment["spec"].get("budget") == "steps" else "epoch", width="small"),
                "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
                "val_acc": st.column_config.NumberColumn("val acc", format="%.1f%%"),
                "test_acc": st.column_config.NumberColumn("test acc", format="%.1f%%"),
                "seconds": st.column_config.NumberColumn("train s", format="%.1f"),
                "note": st.column_config.TextColumn("note"),
            },
        )


st.fragment(progress_part, run_every=PROGRESS_SECONDS if active_at_load else None)()
st.fragment(curves_part, run_every=CURVES_SECONDS if active_at_load else None)()
