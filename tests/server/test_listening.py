"""A port the webhook cannot have is explained in one line: which address, which flag, and what to do."""

from __future__ import annotations

import errno

import pytest

from webhook.server.listening import listen_error


@pytest.mark.parametrize(
    ("error", "port", "says"),
    [
        (OSError(errno.EACCES, "Permission denied"), 443, "net.ipv4.ip_unprivileged_port_start=0"),
        (OSError(errno.EACCES, "Permission denied"), 443, "--port=8443"),
        (OSError(errno.EACCES, "Permission denied"), 8443, "Permission denied"),
        (OSError(errno.EADDRINUSE, "Address already in use"), 8443, "already in use"),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), 8443, "Cannot assign requested"),
    ],
)
def test_a_port_that_cannot_be_had_is_explained(error: OSError, port: int, says: str) -> None:
    message = str(listen_error(error, host="0.0.0.0", port=port, flag="--port"))

    assert message.startswith(f"cannot listen on 0.0.0.0:{port} (--port): ")
    assert says in message


def test_only_a_privileged_port_gets_the_privilege_advice() -> None:
    message = str(
        listen_error(OSError(errno.EACCES, "Permission denied"), host="::", port=8443, flag="--port")
    )

    assert "ip_unprivileged_port_start" not in message


def test_an_ipv6_address_is_written_as_in_a_url() -> None:
    message = str(listen_error(OSError(errno.EADDRINUSE, "in use"), host="::", port=443, flag="--port"))

    assert message.startswith("cannot listen on [::]:443 (--port): ")
