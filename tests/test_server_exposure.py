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
