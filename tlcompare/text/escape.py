"""Text from users and their data made inert wherever it is shown: experiment names, notes, class,
folder and file names, zip entries, error messages that quote them.

One sanitiser, ``printable``, for every output. Control characters (ESC, CR, LF, ...) and invisible
format characters, the Unicode bidi overrides and isolates (U+202E and friends) among them, are
written as Python escapes (``\\x1b``, ``\\u202e``): printed raw they recolour a terminal, forge a
line of output, flip the neighbouring caption, or stop LaTeX. Letters of every script, spaces and
the zero-width (non-)joiners that emoji and some scripts need stay as they are.

Each output format then escapes its own active characters on top, once, where the text enters it:
HTML runs tags, LaTeX runs commands and breaks on ``&``, Markdown turns ``*`` and ``|`` into
layout, Streamlit's Markdown adds ``:red[...]`` directives and math, plotly renders a few HTML tags
and entities inside chart labels, a spreadsheet runs a CSV cell that starts with ``=``. JSON keeps
the exact text (every non-ASCII character as a ``\\u`` escape).
"""

from __future__ import annotations

import html
import re
import unicodedata

_KEEP = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner: part of emoji and of some scripts
_STREAMLIT_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX))
# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that change layout
# or start raw HTML in a table cell.
_MARKDOWN_RE = re.compile(r"([\\`*_\[\]<>|#&~])")
# Cells a spreadsheet would run as a formula (CSV injection): text starting with these gets a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _shown(c: str, keep_newlines: bool) -> str:
    if c.isprintable() or c in _KEEP or unicodedata.category(c) == "Zs" or (keep_newlines and c in "\n\t"):
        return c
    return repr(c)[1:-1]  # '\x1b', '\u202e', '\n'


def printable(text, limit: int | None = 120, keep_newlines: bool = False) -> str:
    """``text`` with every control and format character written as an escape, cut to ``limit``."""
    shown = "".join(_shown(c, keep_newlines) for c in ("" if text is None else str(text)))
    return shown if limit is None or len(shown) <= limit else shown[: limit - 3] + "..."


def one_line(text) -> str:
    """Whitespace runs (newlines included) as one space, the rest through ``printable``, uncut."""
    return printable(" ".join(("" if text is None else str(text)).split()), limit=None)


# -- per format -------------------------------------------------------------------------------------
def markdown_safe(text, limit: int = 2000) -> str:
    """``text`` as literal characters in Streamlit's Markdown (its directives and math included)."""
    return _STREAMLIT_MARKDOWN.sub(r"\\\1", printable(text, limit))


def html_text(value) -> str:
    """Element text and attribute values (newlines kept: the notes box shows them)."""
    return html.escape(printable(value, None, keep_newlines=True), quote=True)


def latex_text(value) -> str:
    # Whitespace collapsed: a newline would end a comment line early, a blank line a caption.
    # One pass, so the braces that \textbackslash{} adds are not escaped again.
    return _LATEX_RE.sub(lambda m: _LATEX[m.group()], one_line(value))


def markdown_text(value) -> str:
    """A Markdown report's text and table cells (a newline would end the table row)."""
    return _MARKDOWN_RE.sub(r"\\\1", one_line(value))


def plotly_text(value) -> str:
    """Chart labels: plotly renders <b>, <br>, <a> and entities such as &amp; in any label."""
    return html.escape(printable(value, None), quote=False)


def csv_text(value):
    """A CSV cell: text sanitised and kept from running as a formula; numbers as they are."""
    if not isinstance(value, str):
        return value
    value = printable(value, None)
    return "'" + value if value.startswith(_FORMULA_START) else value
