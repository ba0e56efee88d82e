"""Where and for whom the UI listens: its sockets, and the host names a request may name."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence

import tornado.netutil

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> frozenset[str]:
    """The host names a request may name: the bound address, this machine's names, and ``extra``.

    IP addresses are always allowed (a DNS-rebinding page names a domain of its own); a UI bound to
    every interface also answers to this machine's host names.
    """
    names = {host.strip("[]").lower(), *LOOPBACK_NAMES, *(e.lower() for e in extra)}
    if host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(names)


class PortInUseError(RuntimeError):
    """The port is taken, with the fix in the message."""


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on ``host:port`` (0: any free port); PortInUseError names the fix."""
    try:
        return tornado.netutil.bind_sockets(port, host)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is in use: pass another --port") from None
        message = f"cannot listen on {host}:{port} ({err.strerror}): pass another --host or --port"
        raise PortInUseError(message) from None


def is_ip(name: str) -> bool:
    """True for an IP address (a Host header naming no domain), with or without IPv6 brackets."""
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
