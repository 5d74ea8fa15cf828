"""Refuse every connection that is not to loopback: tests never contact a real Microsoft host.

Installed in the test process by conftest.py (autouse) and in every Python subprocess the
tests start, through tests/subprocess_guard/sitecustomize.py on PYTHONPATH.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Callable

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


class RealNetworkAccessError(RuntimeError):
    """Raised when a test tries to reach anything but loopback."""


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): a local bind address
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES or host == "":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(host: Any, port: Any) -> RealNetworkAccessError:
    return RealNetworkAccessError(
        f"tests must never contact a real Microsoft host (or any host but loopback): "
        f"attempted to reach {host!r} port {port!r}. Point the client at the sandbox "
        f"(its URLs and ca_file) instead."
    )


def install(setattr_: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make every connection to a non-loopback address fail loudly.

    RealNetworkAccessError is not an OSError, so SDK retry loops do not swallow it.
    """
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise _refuse(host, port)
        return real_getaddrinfo(host, port, *args, **kwargs)

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise _refuse(address[0], address[1])

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    setattr_(socket, "getaddrinfo", getaddrinfo)
    setattr_(socket.socket, "connect", connect)
    setattr_(socket.socket, "connect_ex", connect_ex)
