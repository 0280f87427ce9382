"""Only the dashboard's own page (and origins the user names) may open its connection.

Streamlit 1.67 lets any page whose origin is localhost, 127.0.0.1 or 0.0.0.0, on any port, open
``/_stcore/stream``: a page served by any other local program (a dev server on :1234, a notebook)
could drive the dashboard from the user's browser, start runs and read results. There is no
setting that narrows that list (``server.corsAllowedOrigins`` only adds to it), so two guards:

- ``install`` replaces the server's cross-origin test for the WebSocket handshake: only the
  origins named in ``server.corsAllowedOrigins`` pass; the dashboard's own page, whose origin is the
  host it asked, passes Streamlit's same-origin test before this one is asked. It runs in the
  server process on the first script run, so a handshake before any page ever ran (a fresh server)
  still meets Streamlit's own test;
- ``session_allowed``, asked by every script run, closes that gap: a session whose handshake came
  from another origin runs nothing.

``server.enableCORS = false`` (the user's explicit choice to allow every origin) turns both off.
"""

from __future__ import annotations

from urllib.parse import urlparse

from streamlit import config


def named_origin(origin: str) -> bool:
    """An origin the user allows on purpose: listed in ``server.corsAllowedOrigins``, or any when CORS
    protection is off."""
    if not config.get_option("server.enableCORS"):
        return True
    named = {o.strip().rstrip("/").lower() for o in config.get_option("server.corsAllowedOrigins") or []}
    return origin.strip().rstrip("/").lower() in named


def install() -> None:
    """Narrow the WebSocket handshake's cross-origin test to the named origins (once per process)."""
    try:
        from streamlit.web.server.starlette import starlette_websocket as ws
    except ImportError:  # another Streamlit server: the session check below still holds
        return
    if getattr(ws.is_url_from_allowed_origins, "tlcompare", False):
        return
    named_origin.tlcompare = True  # type: ignore[attr-defined]
    ws.is_url_from_allowed_origins = named_origin


def session_allowed(headers) -> bool:
    """Whether this session's handshake came from the dashboard's own page or a named origin."""
    origin = headers.get("Origin") if headers else None
    if not origin:
        return True  # no browser page behind it (a test harness, a script): no page to borrow the user's browser
    return urlparse(origin).netloc.lower() == (headers.get("Host") or "").lower() or named_origin(origin)
