"""Errors a user can act on appear as a message box with one line per problem, never a traceback."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from tlcompare.errors import SpecError, UserError
from tlcompare.escape import markdown_safe
from tlcompare.store_errors import store_problem
from ui.state import store_path


def show(error: UserError) -> None:
    if isinstance(error, SpecError) and len(error.problems) > 1:
        st.error("Please fix these settings:\n\n" + "\n".join(f"- {markdown_safe(p)}" for p in error.problems),
                 icon=":material/error:")
    else:
        problems = error.problems if isinstance(error, SpecError) else [str(error)]
        st.error(markdown_safe(problems[0]), icon=":material/error:")


@contextmanager
def shown_as_message() -> Iterator[None]:
    """Run a block; a UserError inside becomes a message box and the block ends there.

    So does an SQLite error: a damaged store is often found only when a read reaches the damaged
    page, in the middle of a page, and it gets the same line as a store that does not open.
    """
    try:
        yield
    except UserError as e:
        show(e)
    except sqlite3.Error as e:
        st.error(markdown_safe(store_problem(store_path(), e)), icon=":material/error:")
