"""SIGTERM loses no admission (SPEC §4, issue 19): for --shutdown-delay the webhook keeps accepting and
answering, every answer with `Connection: close`; then it stops listening, cuts idle connections without
waiting on their clients, finishes the requests in flight and exits 0. SIGINT skips the delay.

A request is provably in flight when the server has answered `Expect: 100-continue`: it has parsed the
headers and the webhook is reading the body. Times are bounds far above what is expected, never measurements:
the machine is shared.
"""

from __future__ import annotations

import http.client
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
DRAINING = "SIGTERM: answering for"
LONG_DELAY = "--shutdown-delay=600"
"""Longer than any test: the delay is ended by a second signal, so no test waits for it."""
IDLE_EXIT_BOUND_SECONDS = 20
"""An idle TLS connection whose client never answers the close once held the exit for the whole
--shutdown-timeout (25.7 s measured; uvloop's own TLS close timeout is 30 s): with a timeout of 300 s, an exit
within this bound can only come from cutting the connection. Expected: about a second."""


def review_body() -> bytes:
    return json.dumps(admission_review(from_replicaset(pod()))).encode()


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


def keep_alive_connection(server: RunningServer) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "localhost", server.port, context=server.tls_context(), timeout=EXIT_LIMIT_SECONDS
    )


def post(connection: http.client.HTTPSConnection) -> http.client.HTTPResponse:
    connection.request("POST", "/mutate", body=review_body(), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response


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


def test_during_the_delay_new_and_kept_connections_are_answered_with_connection_close(launch: Launch) -> None:
    server = launch(LONG_DELAY)
    kept = keep_alive_connection(server)
    assert post(kept).getheader("connection") is None

    server.process.send_signal(signal.SIGTERM)
    server.wait_for_output(DRAINING)
    answers = [post(keep_alive_connection(server)) for _ in range(3)]
    on_kept = post(kept)

    for response in [*answers, on_kept]:
        assert response.status == 200
        assert response.getheader("connection") == "close"
    assert server.process.poll() is None
    assert server.terminate() == 0


def test_after_the_delay_it_stops_listening_and_exits_zero_by_itself(launch: Launch) -> None:
    server = launch("--shutdown-delay=1")

    server.process.send_signal(signal.SIGTERM)
    wait_until_refusing_connections(server)

    assert server.process.wait(timeout=EXIT_LIMIT_SECONDS) == 0
    output = server.output()
    assert output.index(DRAINING) < output.index("stopped listening")


def test_sigterm_lets_requests_in_flight_finish(launch: Launch) -> None:
    server = launch("--shutdown-delay=1")
    held = [HeldRequest(server, review_body()) for _ in range(IN_FLIGHT)]

    server.process.send_signal(signal.SIGTERM)
    wait_until_refusing_connections(server)
    answers = [request.finish() for request in held]

    for status, reply in answers:
        assert status == 200
        assert decoded_patch(reply)
    assert server.process.wait(timeout=EXIT_LIMIT_SECONDS) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/livez", verify=server.tls_context(), timeout=5)


def test_an_idle_tls_connection_whose_client_never_answers_the_close_does_not_hold_the_exit(
    launch: Launch,
) -> None:
    server = launch("--shutdown-delay=1", "--shutdown-timeout=300")
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=EXIT_LIMIT_SECONDS)
    with server.tls_context().wrap_socket(raw, server_hostname="localhost") as idle:
        body = review_body()
        idle.sendall(
            b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")

        server.process.send_signal(signal.SIGTERM)
        # The client reads nothing more and never sends its TLS close: only the server can end this.
        status = server.process.wait(timeout=IDLE_EXIT_BOUND_SECONDS)

    assert status == 0


def test_sigint_skips_the_delay_and_exits_zero(launch: Launch) -> None:
    server = launch(LONG_DELAY)

    assert server.stop(signal.SIGINT) == 0
    assert DRAINING not in server.output()


def test_a_second_sigterm_ends_the_delay(launch: Launch) -> None:
    server = launch(LONG_DELAY)
    server.process.send_signal(signal.SIGTERM)
    server.wait_for_output(DRAINING)

    assert server.terminate() == 0
