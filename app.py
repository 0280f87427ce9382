"""tlcompare dashboard: design a comparison, watch it train, read the answer.

    streamlit run app.py

The dashboard only writes experiment specs to the store and reads results back; training runs in
a separate worker process, so refreshing or closing the browser never loses a run.
"""

from pathlib import Path

import streamlit as st

from ui import errors, paths, presentation, sidebar, state

# A file shipped with the app: a Material icon as page icon is fetched from a font host on the
# internet, which an offline machine cannot reach (an error in the browser console on every page).
ICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

st.set_page_config(page_title="tlcompare: pretrained or from scratch?", page_icon=str(ICON),
                   layout="wide", initial_sidebar_state="expanded")

page = st.navigation({
    "Experiment": [
        st.Page(paths.NEW, title="New experiment", icon=":material/add_circle:", default=True),
        st.Page(paths.LIVE, title="Live", icon=":material/monitoring:"),
    ],
    "Answer": [
        st.Page(paths.RESULTS, title="Results", icon=":material/insights:"),
        st.Page(paths.REPORT, title="Report", icon=":material/description:"),
        st.Page(paths.HISTORY, title="History", icon=":material/history:"),
    ],
}, expanded=True)
presentation.apply()
# The one place where a store that cannot be used (damaged, truncated, newer, unopenable) becomes the
# same one-line message on every page, never a traceback.
with errors.shown_as_message():
    # Open and read it first: a store that does not open, or whose experiment rows are damaged, stops
    # here with one message, before the sidebar or the page repeats it.
    state.store().list_experiments()
    sidebar.render()
    page.run()
