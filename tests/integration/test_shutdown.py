"""SPEC §4: SIGTERM drains the requests in flight, then the process exits cleanly.

A request is provably in flight when the server has answered `Expect: 100-continue`: it has parsed the
headers and the webhook is reading the body. The bodies are sent only once shutdown has provably begun:
the listening socket refuses new connections.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import time

import httpx
import pytest

from tests.engine.support import pod
from tests.integration.server_process import EXIT_LIMIT_SECONDS, Launch, RunningServer
from tests.server.reviews import admission_review, decoded_patch, from_replicaset

IN_FLIGHT = 3


class HeldRequest:
    """A POST /mutate whose headers are sent and acknowledged with 100 Continue, and whose body is not."""

    def __init__(self, server: RunningServer, body: bytes) -> None:
        self._body = body
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=EXIT_LIMIT_SECONDS)
        self._socket: ssl.SSLSocket = server.tls_context().wrap_socket(raw, server_hostname="localhost")
        self._socket.sendall(
            b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        interim = self._read_until(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100"), interim

    def finish(self) -> tuple[int, dict[str, object]]:
        """Send the body; the final status and JSON body."""
        self._socket.sendall(self._body)
        received = self._read_until(b"\r\n\r\n")
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers["content-length"]):
            chunk = self._socket.recv(65536)
            assert chunk, "connection closed before the whole response arrived"
            body += chunk
        self._socket.close()
        return int(lines[0].split(" ", 2)[1]), json.loads(body)

    def _read_until(self, marker: bytes) -> bytes:
        """Bytes up to and including `marker`, plus whatever arrived with them."""
        received = b""
        while marker not in received:
            chunk = self._socket.recv(65536)
            assert chunk, f"connection closed before {marker!r}; got {received!r}"
            received += chunk
        return received


def wait_until_refusing_connections(server: RunningServer) -> None:
    deadline = time.monotonic() + EXIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=EXIT_LIMIT_SECONDS).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    raise AssertionError(
        f"still accepting connections {EXIT_LIMIT_SECONDS}s after SIGTERM:\n{server.output()}"
    )


def test_sigterm_lets_requests_in_flight_finish(launch: Launch) -> None:
    server = launch()
    original = from_replicaset(pod())
    held = [HeldRequest(server, json.dumps(admission_review(original)).encode()) for _ in range(IN_FLIGHT)]

    server.process.send_signal(signal.SIGTERM)
    wait_until_refusing_connections(server)
    answers = [request.finish() for request in held]

    for status, reply in answers:
        assert status == 200
        assert decoded_patch(reply)
    server.process.wait(timeout=EXIT_LIMIT_SECONDS)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/livez", verify=server.tls_context(), timeout=5)


def test_sigterm_exit_status_is_zero(launch: Launch) -> None:
    server = launch()

    assert server.terminate() == 0
