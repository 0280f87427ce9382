"""Names from user data (folder names, file names, zip entries) made safe to print.

A file name can hold a newline or a terminal escape sequence; printed raw it forges report lines
or recolours the terminal. Such characters are shown as Python escapes instead. Letters of every
script and spaces stay as they are. In the dashboard, names go through widgets that render plain
text (tables, code); where a message must go through Markdown, ``markdown_safe`` keeps a folder
called ``[click](https://...)`` from becoming a link.
"""

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def printable(text: str, limit: int = 120) -> str:
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def markdown_safe(text: str, limit: int = 2000) -> str:
    """``text`` as literal characters in Markdown (Streamlit's directives and math included)."""
    return _MARKDOWN.sub(r"\\\1", printable(text, limit))
