"""The dashboard's server as the network sees it: a page on another site that points its own host
name at this machine (DNS rebinding) must not get the app's connection."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser


def websocket_status(url: str, host: str, origin: str | None = None) -> str:
    """The status line the server answers a WebSocket handshake for the app's stream with ``host``."""
    where = urlparse(url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin or 'http://' + host}\r\n\r\n")
    with socket.create_connection((where.hostname, where.port), timeout=30) as s:
        s.sendall(request.encode())
        return s.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_only_local_host_names_open_the_apps_connection(dashboard):
    url, _ = dashboard
    port = urlparse(url).port
    assert " 101 " in websocket_status(url, f"127.0.0.1:{port}")
    assert " 101 " in websocket_status(url, f"localhost:{port}")
    # DNS rebinding: the page's own name, now resolving here, as both Host and Origin.
    refused = websocket_status(url, f"evil.example:{port}")
    assert " 101 " not in refused, refused
    # A page elsewhere talking to localhost directly: Streamlit's CORS check (kept on) refuses it.
    cross = websocket_status(url, f"127.0.0.1:{port}", origin="http://evil.example")
    assert " 101 " not in cross, cross


def test_other_local_origins_cannot_open_the_apps_connection(dashboard):  # noqa: F811
    """Streamlit itself lets any page on localhost, 127.0.0.1 or 0.0.0.0, on any port, open the
    stream: a page of any other local program could drive the dashboard from the user's browser."""
    from test_dashboard_browser import chromium_page

    url, _ = dashboard
    port = urlparse(url).port
    with chromium_page("failure-origin") as (page, expect):
        page.goto(url)  # the first script run puts the guard on the server's handshake
        expect(page.get_by_role("heading", name="New experiment")).to_be_visible(timeout=120_000)
    own = f"127.0.0.1:{port}"
    assert " 101 " in websocket_status(url, own, origin=f"http://{own}")
    for origin in ("http://localhost:1234", "http://0.0.0.0:9999", f"http://localhost:{port + 1}", "http://127.0.0.1:8501"):
        refused = websocket_status(url, own, origin=origin)
        assert " 101 " not in refused and " 403 " in refused, (origin, refused)


def test_a_session_opened_from_another_origin_runs_nothing(monkeypatch):
    """The guard every script run asks (a handshake before the first run meets only Streamlit's test)."""
    from streamlit import config

    from ui.origin_guard import session_allowed

    host = "127.0.0.1:8501"
    assert session_allowed({"Host": host, "Origin": f"http://{host}"})
    assert session_allowed({"Host": host})  # no page behind it: nothing borrows a browser
    assert not session_allowed({"Host": host, "Origin": "http://localhost:1234"})
    assert not session_allowed({"Host": host, "Origin": "http://0.0.0.0:9999"})
    real = config.get_option
    monkeypatch.setattr(config, "get_option", lambda key: ["http://tools.internal:3000"]
                        if key == "server.corsAllowedOrigins" else real(key))
    assert session_allowed({"Host": host, "Origin": "http://tools.internal:3000"})  # named by the user
    assert not session_allowed({"Host": host, "Origin": "http://tools.internal:3001"})
