"""The server's listening sockets, bound before anything else starts so a port that cannot be had stops the
webhook at once with one line saying why and what to do, not a traceback or a server half started."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import TypeVar

from webhook.errors import ConfigurationError

PRIVILEGED_PORTS_BELOW = 1024

T = TypeVar("T")


def listen_error(error: OSError, *, host: str, port: int, flag: str) -> ConfigurationError:
    """What a failed bind means for an operator. Port 443 is the reference webhook's default, and this
    image runs as a non-root user: that case gets its remedies spelled out."""
    where = f"cannot listen on {host}:{port} ({flag})"
    if error.errno == errno.EACCES and port < PRIVILEGED_PORTS_BELOW:
        return ConfigurationError(
            f"{where}: ports below {PRIVILEGED_PORTS_BELOW} need privilege and this process runs as uid "
            f"{os.getuid()}; listen on a higher port (--port=8443, with the Service's targetPort to match), "
            "or let the pod bind low ports (securityContext.sysctls: net.ipv4.ip_unprivileged_port_start=0)"
        )
    if error.errno == errno.EADDRINUSE:
        return ConfigurationError(f"{where}: the address is already in use by another process or container")
    return ConfigurationError(f"{where}: {error.strerror or error}")


def bound(bind: Callable[[], T], *, host: str, port: int, flag: str) -> T:
    """`bind()`'s result, or its OSError as a ConfigurationError naming the address and the flag."""
    try:
        return bind()
    except OSError as error:
        raise listen_error(error, host=host, port=port, flag=flag) from error


def open_listener(*, host: str, port: int, flag: str) -> socket.socket:
    """A listening TCP socket, as uvicorn would open for `host` (IPv6 when the address has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return bound(lambda: socket.create_server((host, port), family=family), host=host, port=port, flag=flag)
