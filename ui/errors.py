"""Errors a user can act on appear as a message box with one line per problem, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from tlcompare.errors import SpecError, UserError


def show(error: UserError) -> None:
    if isinstance(error, SpecError) and len(error.problems) > 1:
        st.error("Please fix these settings:\n\n" + "\n".join(f"- {p}" for p in error.problems), icon=":material/error:")
    else:
        problems = error.problems if isinstance(error, SpecError) else [str(error)]
        st.error(problems[0], icon=":material/error:")


@contextmanager
def shown_as_message() -> Iterator[None]:
    """Run a block; a UserError inside becomes a message box and the block ends there."""
    try:
        yield
    except UserError as e:
        show(e)
