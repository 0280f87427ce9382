"""Presentation view for design reviews: wide, large type, sidebar and controls hidden.

Controls that should disappear sit in containers whose key starts with ``controls``; Streamlit
gives such a container the CSS class ``st-key-<key>``, which the stylesheet hides. The flag is in
the URL (``?present=1``) so a projector tab survives a refresh.
"""

from __future__ import annotations

import streamlit as st

from ui.paths import ASSETS

# st.html puts a .css file given as a Path into a <style> element.
CSS = ASSETS / "presentation.css"


def is_on() -> bool:
    if "presentation_on" not in st.session_state:
        st.session_state["presentation_on"] = st.query_params.get("present") == "1"
    return bool(st.session_state["presentation_on"])


def set_on(on: bool) -> None:
    st.session_state["presentation_on"] = on
    if on:
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


def apply() -> None:
    """Call once per run, before the page: styles the page and offers the way back."""
    if not is_on():
        return
    st.html(CSS)
    with st.container(key="presentation_exit", horizontal=True, horizontal_alignment="right"):
        st.button("Exit presentation view", icon=":material/close_fullscreen:", type="tertiary",
                  on_click=set_on, args=(False,))


def toggle() -> None:
    """The switch in the sidebar (the sidebar itself is hidden once it is on)."""
    st.toggle("Presentation view", value=is_on(), key="present_toggle", help="Large type, no sidebar or controls: "
              "for a projector. The page keeps its current choices.",
              on_change=lambda: set_on(st.session_state["present_toggle"]))


def table_size(n_rows: int, cap: int = 600) -> dict:
    """``st.dataframe`` height and row height that show every row: taller rows in presentation view,
    where the table is read from across a room, and no scrolling box around a few rows there."""
    row = 44 if is_on() else 35
    height = row * (n_rows + 1) + 3
    return {"height": height if is_on() else min(cap, height), "row_height": row}
