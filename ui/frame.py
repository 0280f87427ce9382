"""What is drawn around every page: page config, logo, navigation, presentation view, the store
check and the sidebar. ``app.py`` calls ``run``; every page in ``pages/`` starts with ``ensure_frame``.

Why pages need ``ensure_frame``: Streamlit decides once per server process, on its first script run,
whether a folder named ``pages`` beside ``app.py`` means its old automatic page list. When that
first request is a bookmarked page (``/results?exp=3&present=1``), Streamlit runs
``pages/results.py`` by itself, without ``app.py``: no sidebar, no wide layout, a page list of
file names. ``ensure_frame`` sees that the page runs outside ``run`` and runs the whole app around it
instead, the same code as any other request. Calling ``st.navigation`` (inside ``run``) switches
the process to ``app.py``'s page list for good, so this happens at most once per process (and on
every run of Streamlit's AppTest, which starts each run as a fresh process would).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from ui import errors, origin_guard, paths, presentation, sidebar, state, warm
from ui.paths import ASSETS

# Files shipped with the app: a Material icon as page icon is fetched from a font host on the
# internet, which an offline machine cannot reach (an error in the browser console on every page).
ICON = ASSETS / "favicon.png"
LOGO = ASSETS / "logo.png"

# Per script thread: each browser session runs its scripts on a thread of its own.
_inside = threading.local()


def navigation() -> st.Page:
    """The page list, grouped as the sidebar shows it; returns the page the address names."""
    return st.navigation({
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


def run() -> None:
    """The whole app for one request: the frame, then the page the address names."""
    origin_guard.install()
    if not origin_guard.session_allowed(st.context.headers):
        st.stop()  # a page of another origin opened this session: it runs nothing
    st.set_page_config(page_title="tlcompare: pretrained or from scratch?", page_icon=str(ICON),
                       layout="wide", initial_sidebar_state="expanded")
    st.logo(str(LOGO), icon_image=str(ICON), size="large")
    page = navigation()
    presentation.apply()
    # The one place where a store that cannot be used (damaged, truncated, newer, unopenable) becomes
    # the same one-line message on every page, never a traceback.
    with errors.shown_as_message():
        # Open and read it first: a store that does not open, or whose experiment rows are damaged,
        # stops here with one message, before the sidebar or the page repeats it.
        state.store().list_experiments()
        sidebar.render()
        try:
            with _page_inside_frame():
                page.run()
        finally:  # after the first page is drawn (st.stop and reruns included), never before it
            warm.start_once()


@contextmanager
def _page_inside_frame() -> Iterator[None]:
    _inside.on = True
    try:
        yield
    finally:
        _inside.on = False


def ensure_frame() -> None:
    """Every page's first statement: a page that Streamlit started without ``app.py`` runs the app
    (which draws the frame and runs this page inside it), then ends its own bare run."""
    if getattr(_inside, "on", False):
        return
    run()
    st.stop()
