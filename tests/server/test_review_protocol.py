"""Reviews answered inside the HTTP protocol keep HTTP's promises: answers in request order, the size limit
on bodies of any framing, the connection closed when HTTP/1.0 or a fault asks for it, and an answer that has
to wait for I/O sent when it is ready."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Iterator

import pytest

from tests.server.serving import Server, serving
from webhook.server.admission import Answer
from webhook.server.http_app import WebhookApp, health_app

LIMIT = 1000
"""The largest review body the app under test reads, in bytes."""


class Counting:
    """Answers at once with the size of the review it was given."""

    def answer(self, body: bytes) -> Answer:
        return Answer(200, b'{"bytes":%d}' % len(body))

    def refuse(self, *, status: int, reason: str, started: float) -> Answer:
        return Answer(status, b'{"refused":"%s"}' % reason.encode())


class Fetching(Counting):
    """Answers only after an await, as the admission handler does for a ServiceAccount it must fetch."""

    def answer(self, body: bytes) -> Awaitable[Answer]:  # type: ignore[override]
        async def later() -> Answer:
            await asyncio.sleep(0.2)
            return Answer(200, b'{"fetched":%d}' % len(body))

        return later()


class Broken(Counting):
    def answer(self, body: bytes) -> Answer:
        raise RuntimeError("a fault the handler did not catch")


@pytest.fixture
def server() -> Iterator[Server]:
    app = WebhookApp(
        handler=Counting(),
        fallback=health_app(ready=lambda: (True, "ready")),
        max_request_bytes=LIMIT,
        more_reviews={"/fetching": Fetching(), "/broken": Broken()},
    )
    with serving(app) as running:
        yield running


def review(
    path: str,
    body: bytes = b"{}",
    *,
    version: str = "1.1",
    content_type: str = "application/json",
    extra: str = "",
) -> bytes:
    head = (
        f"POST {path} HTTP/{version}\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def chunked(path: str, *chunks: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head.encode() + b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


class Reader:
    """Reads whole HTTP responses off one connection, however the bytes arrive."""

    def __init__(self, connection: ssl.SSLSocket) -> None:
        self._connection = connection
        self._buffer = b""
        self.heads: list[bytes] = []

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next final response: a `100 Continue` before it is skipped."""
        status_line, lines = "HTTP/1.1 100 Continue", []
        while status_line.startswith("HTTP/1.1 100 "):
            while b"\r\n\r\n" not in self._buffer:
                self._fill()
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            self.heads.append(head)
            status_line, *lines = head.decode().split("\r\n")
        headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
        length = int(headers["content-length"])
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        try:
            return not self._buffer and self._connection.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def _fill(self) -> None:
        chunk = self._connection.recv(65536)
        assert chunk, "the server closed the connection before answering"
        self._buffer += chunk


def test_a_review_is_answered_with_the_headers_of_every_answer(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(review("/mutate", b'{"a":1}'))
        status, headers, body = Reader(connection).response()
    assert (status, body) == (200, b'{"bytes":7}')
    assert headers["content-type"] == "application/json"
    assert "date" in headers
    assert "connection" not in headers


def test_reviews_on_one_connection_are_answered_one_after_another(server: Server) -> None:
    with server.connect() as connection:
        reader = Reader(connection)
        for size in (1, 10, 100):
            connection.sendall(review("/mutate", b"x" * size))
            assert reader.response()[2] == b'{"bytes":%d}' % size


def test_an_answer_that_waits_for_io_is_sent_when_ready(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(review("/fetching", b"abc"))
        assert Reader(connection).response()[:3:2] == (200, b'{"fetched":3}')


@pytest.mark.parametrize(
    "second",
    [review("/mutate", b"12345"), b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ids=["a review", "a health check"],
)
def test_a_request_pipelined_behind_a_waiting_review_is_answered_after_it(
    server: Server, second: bytes
) -> None:
    with server.connect() as connection:
        connection.sendall(review("/fetching", b"abc") + second)
        reader = Reader(connection)
        first_answer, second_answer = reader.response()[2], reader.response()[2]
    assert first_answer == b'{"fetched":3}'
    assert second_answer in (b'{"bytes":5}', b'{"status":"ok"}')


def test_reviews_pipelined_in_one_write_are_answered_in_order(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(b"".join(review("/mutate", b"x" * size) for size in (3, 1, 2)))
        reader = Reader(connection)
        assert [reader.response()[2] for _ in range(3)] == [b'{"bytes":3}', b'{"bytes":1}', b'{"bytes":2}']


def test_a_chunked_body_is_read_whole(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(chunked("/mutate", b"ab", b"cde"))
        assert Reader(connection).response()[2] == b'{"bytes":5}'


def test_a_chunked_body_over_the_limit_is_refused_and_the_connection_stays_usable(server: Server) -> None:
    with server.connect() as connection:
        reader = Reader(connection)
        connection.sendall(chunked("/mutate", b"x" * 600, b"y" * 600))
        status, _, body = reader.response()
        assert (status, body) == (413, b'{"refused":"request body exceeds 1000 bytes"}')
        connection.sendall(review("/mutate", b"ok"))
        assert reader.response()[2] == b'{"bytes":2}'


def test_an_http_1_0_review_is_answered_and_its_connection_closed(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(review("/mutate", version="1.0"))
        reader = Reader(connection)
        status, headers, _ = reader.response()
        assert (status, headers["connection"]) == (200, "close")
        assert reader.closed()


def test_a_fault_in_a_handler_is_a_500_and_closes_the_connection(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with server.connect() as connection:
        connection.sendall(review("/broken"))
        reader = Reader(connection)
        status, headers, body = reader.response()
        assert (status, headers["connection"], body) == (500, "close", b"Internal Server Error")
        assert reader.closed()
    assert "a fault the handler did not catch" in caplog.text


def test_a_client_that_leaves_before_its_body_is_complete_is_logged_and_not_answered(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webhook.http")
    with server.connect() as connection:
        connection.sendall(review("/mutate", b'{"a":1}')[:-3])
    with server.connect() as connection:  # a second request proves the first was handled before it
        connection.sendall(review("/mutate"))
        Reader(connection).response()
    assert "disconnected before its admission request was complete" in caplog.text


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /mutate HTTP/1.1\r\nHost: localhost\r\n\r\n", 405),
        (review("/mutate", content_type="text/plain"), 415),
        (review("/mutate", b"x" * (LIMIT + 1)), 413),
        (review("/mutate", extra="Expect: 100-continue\r\n"), 200),
    ],
    ids=["another method", "another content type", "a body announced too large", "expect-continue"],
)
def test_requests_the_protocol_leaves_to_asgi_get_the_same_answers(
    server: Server, request_bytes: bytes, status: int
) -> None:
    with server.connect() as connection:
        connection.sendall(request_bytes)
        assert Reader(connection).response()[0] == status


def test_a_connection_left_idle_after_a_review_is_closed_at_the_keep_alive_timeout(server: Server) -> None:
    server.running.config.timeout_keep_alive = 0.3  # type: ignore[assignment]  # typed as whole seconds
    with server.connect() as connection:
        connection.sendall(review("/mutate"))
        reader = Reader(connection)
        reader.response()
        time.sleep(1.0)
        assert reader.closed()


def test_a_review_answered_slower_than_the_keep_alive_timeout_is_not_cut_off(server: Server) -> None:
    server.running.config.timeout_keep_alive = 0.1  # type: ignore[assignment]  # typed as whole seconds
    with server.connect() as connection:
        reader = Reader(connection)
        connection.sendall(review("/mutate"))
        reader.response()
        connection.sendall(review("/fetching", b"abc"))  # answered after 0.2 s
        assert reader.response()[2] == b'{"fetched":3}'


def test_while_every_answer_says_connection_close_the_review_path_closes_after_answering(
    server: Server,
) -> None:
    """What the server does during its --shutdown-delay: a `connection: close` default header."""
    closing = [(b"connection", b"close")]
    server.running.config.encoded_headers = closing  # uvicorn renews the default headers from these
    server.running.server_state.default_headers = [*server.running.server_state.default_headers, *closing]
    with server.connect() as connection:
        connection.sendall(review("/mutate"))
        reader = Reader(connection)
        reader.response()
        assert reader.closed()
        assert reader.heads[-1].lower().count(b"connection: close") == 1
