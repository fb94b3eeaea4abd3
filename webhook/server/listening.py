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
ALL_ADDRESSES = "::"
"""The default bind address: every IPv6 and IPv4 address on one dual-stack socket, as Go's `:port` listens
(the reference's), so the webhook answers on IPv6-only and dual-stack clusters as on IPv4 ones."""
IPV4_ALL_ADDRESSES = "0.0.0.0"

T = TypeVar("T")


def listen_error(error: OSError, *, host: str, port: int, flag: str) -> ConfigurationError:
    """What a failed bind means for an operator. Port 443 is the reference webhook's default, and this
    image runs as a non-root user: that case gets its remedies spelled out."""
    where = f"cannot listen on {url_host(host)}:{port} ({flag})"
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


def effective_bind_address(host: str) -> str:
    """`host`, except that all addresses means IPv4's where the kernel has no IPv6 at all (booted with
    ipv6.disable=1): there, an IPv6 socket cannot even be created."""
    if host != ALL_ADDRESSES:
        return host
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:
        return IPV4_ALL_ADDRESSES
    return host


def open_listener(*, host: str, port: int, flag: str) -> socket.socket:
    """A listening TCP socket on `host`, an IPv6 one when the address has a colon; all IPv6 addresses
    take IPv4 connections too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    dual_stack = host == ALL_ADDRESSES and socket.has_dualstack_ipv6()
    return bound(
        lambda: socket.create_server((host, port), family=family, dualstack_ipv6=dual_stack),
        host=host,
        port=port,
        flag=flag,
    )


def url_host(host: str) -> str:
    """`host` as it is written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host
