"""A Ray cluster address, checked in seconds and shown without its credentials. No torch, no ray.

``ray.init`` retries an address for minutes whether nothing listens there or something that is not
Ray does, and its errors repeat the address, password included. So the address is checked here
first, before the worker imports anything heavy: the port must accept a connection and answer the
HTTP/2 greeting every gRPC server (Ray's head and its client server) answers with. Every message
shows the address with any ``user:password@`` replaced.
"""

from __future__ import annotations

import re
import socket

from tlcompare.errors import UserError
from tlcompare.text.escape import printable

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags, stream 0
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@|^[^/@\s:]*:[^/@\s]*@")


def redact(text: str | None) -> str:
    """``text`` with the credentials of any address in it (``scheme://user:secret@host``) replaced."""
    return _USERINFO.sub("***@", "" if text is None else str(text))


def host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``[scheme://][user:secret@]host:port``; None for 'auto' or a bare name;
    a UserError for a port that is not a number."""
    rest = address.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
    if address == "auto" or ":" not in rest:
        return None
    host, _, port = rest.rpartition(":")
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise UserError(f"the Ray address '{printable(redact(address))}' does not end in a port number "
                        "(HOST:PORT, e.g. 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


def unreachable(address: str | None, timeout: float = 5.0) -> str | None:
    """Why ``address`` is no Ray cluster: nothing listens, or what listens does not speak gRPC; None
    when it answers like one (or names no host:port to try)."""
    where = host_port(address) if address else None
    if where is None:
        return None
    try:
        with socket.create_connection(where, timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(HTTP2_PREFACE + EMPTY_SETTINGS)
            reply = s.recv(9)
    except TimeoutError:
        return "something listens there but does not answer like a Ray cluster (no gRPC greeting)"
    except OSError as e:
        return (e.strerror or str(e)).lower()
    if len(reply) < 9 or reply[3] != 0x04:  # a gRPC server's first frame is its SETTINGS
        return "something listens there but it is not a Ray cluster (it does not speak gRPC)"
    return None


def check_reachable(address: str | None) -> None:
    """A wrong address fails here in seconds, with one line and no credentials."""
    reason = unreachable(address)
    if reason:
        raise UserError(f"cannot reach a Ray cluster at {printable(redact(address))}: {reason}; start one with "
                        "`ray start --head` there, or check the address and port")
