"""The server's HTTP protocol bounds what any client that reaches the port can hold: a request head's size and
the time it takes to arrive, and the number of open connections, while the API server's requests pass."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest

from tests.server.serving import Server, serving
from tests.tls.tls_support import hello_app
from webhook.server import http_protocol


@pytest.fixture
def server() -> Iterator[Server]:
    """hello_app behind the server's settings, in this process so limits can be lowered."""
    with serving(hello_app) as running:
        yield running


def answer(connection: ssl.SSLSocket, request: bytes = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") -> bytes:
    """Send `request` and read its answer (hello_app's, chunked); b"" when the server closed instead."""
    connection.sendall(request)
    received = b""
    while not received.endswith(b"0\r\n\r\n") and not received.startswith(b"HTTP/1.1 431"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def closed_by_server(connection: ssl.SSLSocket) -> bool:
    try:
        return connection.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_a_head_over_the_limit_is_refused_with_431_and_the_connection_closed(server: Server) -> None:
    padding = b"a" * (http_protocol.MAX_HEAD_BYTES + 1)
    with server.connect() as connection:
        assert answer(connection, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + padding).startswith(
            b"HTTP/1.1 431"
        )
        assert closed_by_server(connection)


def test_a_large_body_sent_with_its_headers_is_not_taken_for_a_long_head(server: Server) -> None:
    body = b"{" + b" " * (4 * http_protocol.MAX_HEAD_BYTES) + b"}"
    head = f"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with server.connect() as connection:
        assert answer(connection, head + body).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: loc"], ids=["nothing", "half-a-head"])
def test_a_head_that_does_not_arrive_in_time_closes_the_connection(
    server: Server, monkeypatch: pytest.MonkeyPatch, sent: bytes
) -> None:
    monkeypatch.setattr(http_protocol, "HEAD_TIMEOUT_SECONDS", 0.3)
    with server.connect() as connection:
        connection.sendall(sent)
        assert closed_by_server(connection)


def test_an_idle_kept_alive_connection_is_left_to_the_keep_alive_timeout(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_protocol, "HEAD_TIMEOUT_SECONDS", 0.3)
    with server.connect() as connection:
        assert answer(connection).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)
        assert answer(connection).startswith(b"HTTP/1.1 200")


def test_an_idle_connection_is_closed_at_the_keep_alive_timeout(server: Server) -> None:
    server.running.config.timeout_keep_alive = 0.3  # type: ignore[assignment]  # typed as whole seconds
    with server.connect() as connection:
        assert answer(connection).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)
        assert closed_by_server(connection)


def test_connections_beyond_the_limit_are_closed_and_the_others_keep_working(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_protocol, "MAX_CONNECTIONS", 2)
    with server.connect() as first, server.connect() as second:
        assert answer(first).startswith(b"HTTP/1.1 200")
        with server.connect() as third:
            assert closed_by_server(third)
        assert answer(second).startswith(b"HTTP/1.1 200")
