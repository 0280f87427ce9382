"""Values of widgets in Results' tabs, kept while their tab is closed.

Only the open tab is drawn, and Streamlit forgets the value of a widget that a run does not draw:
a chosen target or size would be lost by a look at another tab. Each widget's value is kept under a
key of its own and given back as the widget's default when its tab opens again. Writing it into the
widget's own key instead would make Streamlit warn about a widget with both a default and a value set
through Session State.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

PREFIX = "kept_"


def kept(key: str, default: Any) -> Any:
    """The value the widget ``key`` had when it was last drawn, else ``default``."""
    return st.session_state.get(PREFIX + key, default)


def keep(key: str, value: Any) -> Any:
    """Remember the widget's value (what it returned) and hand it back."""
    st.session_state[PREFIX + key] = value
    return value


def kept_index(key: str, options: Sequence, default: int = 0) -> int:
    """A select box's index for its kept value, ``default`` when that value is no longer an option."""
    options = list(options)
    value = kept(key, None)
    return options.index(value) if value in options else default
