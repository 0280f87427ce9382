"""History: every experiment with its headline; open, rename, delete, pin one as the baseline."""

import time
import zlib
from datetime import date

import pandas as pd
import streamlit as st

from tlcompare.spec import MAX_NAME
from tlcompare.store.baseline import pin_baseline
from tlcompare.store.headlines import headlines
from tlcompare.text.escape import markdown_safe, printable
from tlcompare.text.setup import dataset_title, model_title, plural, setup_line
from ui import errors, paths
from ui.frame import ensure_frame
from ui.history_filter import matching
from ui.state import remember_experiment, requested_experiment_id, store

ensure_frame()

PAGE_ROWS = 50

st.title("History")
experiments = store().list_experiments()
if not experiments:
    st.info("No experiments yet.", icon=":material/hourglass_empty:")
    st.page_link(paths.NEW, label="New experiment", icon=":material/add_circle:")
    st.stop()

st.caption("Select a row to open, rename, delete or pin it. The pinned experiment (★) is the baseline that "
           "Results draws dotted, with open markers, beside any other experiment.")
with st.container(key="controls_history_filter", horizontal=True):
    search = st.text_input("Search names and notes", key="history_search", placeholder="e.g. digits baseline")
    datasets = st.multiselect("Dataset", sorted({str(e["dataset"]) for e in experiments}), key="history_dataset",
                              format_func=lambda d: printable(d, 60))
    models = st.multiselect("Model", sorted({str(e["model"]) for e in experiments}), key="history_model")
    statuses = st.multiselect("Status", sorted({e["status"] for e in experiments}), key="history_status")
    days = [time.strftime("%Y-%m-%d", time.localtime(e["created"])) for e in experiments]
    since = st.date_input("Created from", value=None, key="history_since",
                          min_value=date.fromisoformat(min(days)), max_value=date.fromisoformat(max(days)))
shown = matching(experiments, search, datasets, models, statuses, since.isoformat() if since else None)
pages = max(1, -(-len(shown) // PAGE_ROWS))
if pages > 1:
    page_no = st.number_input(f"Page (of {pages}; {len(shown)} experiments)", min_value=1, max_value=pages, value=1,
                              key="history_page")
else:
    page_no = 1
    if len(shown) != len(experiments):
        st.caption(f"{len(shown)} of {len(experiments)} experiments match.")
visible = shown[(int(page_no) - 1) * PAGE_ROWS : int(page_no) * PAGE_ROWS]
if not visible:
    st.info("No experiment matches these filters.", icon=":material/filter_alt_off:")
    st.stop()
# Headlines are kept in the store; only the rows on this page are looked at.
headline = headlines(store(), visible)
table = pd.DataFrame([{
    "baseline": "★" if e["pinned"] else "",
    "id": e["id"],
    "name": printable(e["name"], None),
    "status": e["status"],
    "dataset": printable(dataset_title({"dataset": e["dataset"]}), None),
    "model": model_title(e["model"]),
    "runs": f"{e['n_done']}/{e['n_runs']}",
    "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(e["created"])),
    "headline": headline[e["id"]],
} for e in visible])
# The experiment open elsewhere (or named in the URL) starts selected.
current = [i for i, e in enumerate(visible) if e["id"] == requested_experiment_id()]
selection = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"history_table_{zlib.crc32(repr([e['id'] for e in visible]).encode())}",
    selection_default={"selection": {"rows": current}} if current else None,
    # The headline is what people scan the list for: beside the name, never past the table's right edge.
    column_order=["baseline", "id", "name", "headline", "status", "runs", "dataset", "model", "created"],
    column_config={"baseline": st.column_config.TextColumn("", width=30), "id": st.column_config.NumberColumn("#", width=50),
                   # Wide enough for both ends' gains at 1280 px ("large" cut them after the first size).
                   "headline": st.column_config.TextColumn("headline", width=560)},
)
rows = selection.selection.rows if selection else []
if not rows:
    st.stop()

experiment = visible[rows[0]]
experiment_id = experiment["id"]
remember_experiment(experiment_id)

with st.container(border=True):
    # The name is in the Name box below: a heading would turn a URL in it into a link (Markdown
    # autolinks survive escaping) and give it an anchor.
    st.subheader(f"Experiment #{experiment_id}", anchor=False)
    spec = experiment["spec"]
    st.caption(f"{markdown_safe(setup_line(spec, experiment.get('environment')))} · "
               f"{', '.join(map(str, spec['sizes']))} labelled images per class · "
               f"freezing depths {', '.join(map(str, spec['freeze']))} · {plural(spec['epochs'], 'epoch')}")
    with st.container(horizontal=True):
        st.page_link(paths.RESULTS, label="Open results", icon=":material/insights:", query_params={"exp": str(experiment_id)})
        st.page_link(paths.LIVE, label="Live view", icon=":material/monitoring:", query_params={"exp": str(experiment_id)})
        st.page_link(paths.REPORT, label="Report", icon=":material/description:", query_params={"exp": str(experiment_id)})

    with errors.shown_as_message():
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        new_name = c1.text_input("Name", value=experiment["name"], key=f"rename_{experiment_id}", max_chars=MAX_NAME)
        if c2.button("Rename", icon=":material/edit:", key="rename", disabled=new_name.strip() == experiment["name"]):
            store().rename_experiment(experiment_id, new_name)
            st.toast("Renamed.", icon=":material/edit:")
            st.rerun()
        notes = st.text_area("Notes", value=experiment["notes"], key=f"notes_{experiment_id}", height=80,
                             placeholder="What this experiment was for, what you concluded…")
        with st.container(horizontal=True):
            if st.button("Save notes", icon=":material/save:", key="save_notes", disabled=notes == experiment["notes"]):
                store().set_notes(experiment_id, notes)
                st.toast("Notes saved.", icon=":material/save:")
                st.rerun()
            if experiment["pinned"]:
                if st.button("Unpin baseline", icon=":material/push_pin:", key="unpin"):
                    store().set_pinned(experiment_id, False)
                    st.rerun()
            elif st.button("Pin as baseline", icon=":material/push_pin:", key="pin"):
                pin_baseline(store(), experiment_id)
                st.toast("Pinned: Results now compares other experiments with this one.", icon=":material/push_pin:")
                st.rerun()
            if st.button("Delete…", icon=":material/delete:", key="delete"):
                st.session_state["confirm_delete"] = experiment_id

    if st.session_state.get("confirm_delete") == experiment_id:
        running = experiment["status"] in ("running", "queued", "cancelling")
        st.warning(f"Delete #{experiment_id} {markdown_safe(experiment['name'])} and all {experiment['n_runs']} runs? This cannot be "
                   "undone." + (" Its runs in progress stop." if running else ""), icon=":material/warning:")
        with st.container(horizontal=True):
            if st.button("Delete for good", type="primary", icon=":material/delete_forever:", key="confirm"):
                with errors.shown_as_message():
                    if running:
                        store().request_cancel(experiment_id)
                    store().delete_experiment(experiment_id)
                    st.session_state.pop("confirm_delete", None)
                    st.session_state.pop("experiment_id", None)
                    st.query_params.pop("exp", None)
                    st.toast(f"Deleted #{experiment_id}.", icon=":material/delete:")
                    st.rerun()
            if st.button("Keep it", key="keep"):
                st.session_state.pop("confirm_delete", None)
                st.rerun()
