"""Presentation view for design reviews: wide, large type, sidebar and controls hidden.

Tables are HTML tables there (``table``): ``st.dataframe`` draws its cells on a canvas that no
stylesheet reaches, with a font size fixed when the grid first appears, so its text stayed small on
a projector (or grew, depending on which of the page's parts the browser drew first).

Controls that should disappear sit in containers whose key starts with ``controls``; Streamlit
gives such a container the CSS class ``st-key-<key>``, which the stylesheet hides. The flag is in
the URL (``?present=1``) so a projector tab survives a refresh.
"""

from __future__ import annotations

import math
from numbers import Integral, Number

import pandas as pd
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


def table(data, *, key: str | None = None, column_config: dict | None = None, placeholder: str = "–", **dataframe_args) -> None:
    """A table of the page: the interactive ``st.dataframe`` (sorting, scrolling) normally; in
    presentation view every row as an HTML table in the view's large type, its cells written out
    as the data frame's column configuration formats them."""
    config = column_config or {}
    if not is_on():
        st.dataframe(data, hide_index=True, key=key, column_config=config or None, placeholder=placeholder,
                     **{**table_size(len(data)), **dataframe_args})
        return
    st.table(readable(pd.DataFrame(data), config, placeholder), hide_index=True, border="horizontal")


def readable(frame: pd.DataFrame, config: dict, placeholder: str = "–") -> pd.DataFrame:
    """``frame`` as text, each column headed and formatted as ``config`` (st.column_config) says."""
    out = {}
    for column in frame.columns:
        spec = config.get(column) or {}
        label = spec.get("label") or str(column)
        kind = (spec.get("type_config") or {}).get("type")
        fmt = (spec.get("type_config") or {}).get("format")
        out[label] = [_cell(v, kind, fmt, placeholder) for v in frame[column]]
    return pd.DataFrame(out)


def _cell(value, kind: str | None, fmt: str | None, placeholder: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return placeholder
    if isinstance(value, Number) and not isinstance(value, bool):
        if fmt == "percent":
            return f"{value:.0%}"
        if fmt and fmt.startswith("%"):
            return fmt % value
        if kind == "progress":
            return f"{value:.0%}"
        if isinstance(value, Integral):
            return str(int(value))
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)
