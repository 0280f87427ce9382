"""Errors a user can act on appear as a message box with one line per problem, never a traceback."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from tlcompare.errors import SpecError, UserError
from tlcompare.store.errors import store_problem
from tlcompare.text.escape import markdown_safe
from tlcompare.text.setup import SPEC_WORDS, spec_word
from ui.state import store_path


def readable(problem: str) -> str:
    """'sizes: 500 is over ...' -> 'Labelled images per class: 500 is over ...': the form's words, not the
    spec key the command line names (there the key is the flag to fix)."""
    key, sep, rest = problem.partition(": ")
    if sep and key in SPEC_WORDS:
        word = spec_word(key)
        return f"{word[0].upper()}{word[1:]}: {rest}"
    return problem


def show(error: UserError) -> None:
    if isinstance(error, SpecError) and len(error.problems) > 1:
        st.error("Please fix these settings:\n\n" + "\n".join(f"- {markdown_safe(readable(p))}" for p in error.problems),
                 icon=":material/error:")
    else:
        problems = error.problems if isinstance(error, SpecError) else [str(error)]
        st.error(markdown_safe(readable(problems[0])), icon=":material/error:")


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
