"""Text from users (experiment names, notes, class names) made inert in every output format.

Each format has its own active characters: HTML runs tags, LaTeX runs commands and breaks on
``&``, Markdown turns ``*`` and ``|`` into layout, plotly interprets a few HTML tags and entities
inside chart labels. A name is escaped once, at the point where it enters that format.
"""

from __future__ import annotations

import html
import re

_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX))
# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that change layout
# or start raw HTML in a table cell.
_MARKDOWN_RE = re.compile(r"([\\`*_\[\]<>|#&~])")


def html_text(value) -> str:
    """Element text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def latex_text(value) -> str:
    # Whitespace collapsed: a newline would end a comment line early, a blank line a caption.
    text = " ".join(("" if value is None else str(value)).split())
    # One pass, so the braces that \textbackslash{} adds are not escaped again.
    return _LATEX_RE.sub(lambda m: _LATEX[m.group()], text)


def markdown_text(value) -> str:
    text = "" if value is None else str(value)
    return _MARKDOWN_RE.sub(r"\\\1", " ".join(text.split()))  # a newline would end the table row


def plotly_text(value) -> str:
    """Chart labels: plotly renders <b>, <br>, <a> and entities such as &amp; in any label."""
    return html.escape("" if value is None else str(value), quote=False)
