"""uvicorn's HTTP protocol with the limits a port every pod in the cluster can reach needs.

The API server is the only client the webhook has a use for, but nothing stops any pod from connecting (the
chart cannot know the control plane's addresses to allow only them). uvicorn bounds neither a request's
head nor the time it may take to arrive, nor the number of open connections: one client could hold the
process's memory with a single endless header, or with thousands of connections that never finish a request.
The API server sends a whole request at once with headers of a few hundred bytes, so these limits never
touch it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""Request line and headers, at most (Go's own server allows 1 MiB; the API server sends well under 1 KiB)."""
HEAD_TIMEOUT_SECONDS = 10.0
"""From a connection's start, or a request's first byte, to the end of its headers."""
MAX_CONNECTIONS = 1024
"""Open connections at most; one more is closed at once. An idle connection costs about 50 KB."""

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class Deadline:
    """A time limit that moves with every request without touching the event loop's timers.

    A connection's limits are set and cleared on every request, and arming and cancelling a loop timer for
    each cost about a microsecond apiece, more than the rest of the guards together (benchmarks/hot_path.md,
    round 6). Here setting and clearing only record a time; one timer per connection checks it, and is armed
    again only when it finds the limit moved, at most once per limit's length.
    """

    __slots__ = ("_at", "_expired", "_loop", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]) -> None:
        self._loop = loop
        self._expired = expired
        self._at: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._at is not None

    def start(self, seconds: float) -> None:
        """From now, `seconds` until `expired` is called, unless cleared before."""
        self._at = self._loop.time() + seconds
        if self._timer is None:
            self._timer = self._loop.call_at(self._at, self._check)

    def clear(self) -> None:
        self._at = None

    def cancel(self) -> None:
        """Cleared for good: the connection is gone."""
        self._at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._at is None:
            return
        if self._loop.time() < self._at:
            self._timer = self._loop.call_at(self._at, self._check)
            return
        self._at = None
        self._expired()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, plus: a request head over MAX_HEAD_BYTES is answered 431 and the connection
    closed; a head not complete within HEAD_TIMEOUT_SECONDS closes the connection; a connection beyond
    MAX_CONNECTIONS is closed as soon as it is made. uvicorn's keep-alive timeout is kept by a Deadline
    like the head timeout, not by a loop timer armed after every answer."""

    _awaiting_head = True
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_deadline = Deadline(self.loop, self._head_overdue)
        self._idle_deadline = Deadline(self.loop, self.timeout_keep_alive_handler)
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._head_deadline.start(HEAD_TIMEOUT_SECONDS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_deadline.cancel()
        self._idle_deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
            if not self._head_deadline.running:
                self._head_deadline.start(HEAD_TIMEOUT_SECONDS)
        super().data_received(data)
        # Checked after parsing: a chunk that completes the head resets the count, so a body that arrives
        # with its headers is never mistaken for a long head.
        if self._awaiting_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._head_deadline.clear()
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._request_arrived()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive timeout started on the idle Deadline instead of a new timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_deadline.start(self.timeout_keep_alive)

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn calls this on every chunk received and every answer: the connection is not idle."""
        self._idle_deadline.clear()

    def _head_arrived(self) -> None:
        """The guards' part of the end of a request's head, for subclasses that answer it themselves."""
        self._awaiting_head = False
        self._head_bytes = 0
        self._head_deadline.clear()

    def _request_arrived(self) -> None:
        """The guards' part of the end of a request: whatever comes next is the head of another."""
        self._awaiting_head = True

    def shutdown(self) -> None:
        """At shutdown: an idle connection is cut at once, without the TLS close, which waits on the peer
        (a client that never answers it held the exit for the whole --shutdown-timeout). One still
        delivering its last answer, or with a request in flight, closes after it."""
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.transport.get_write_buffer_size() == 0:
            self.transport.abort()
        else:
            super().shutdown()

    def _head_overdue(self) -> None:
        if self._awaiting_head and not self.transport.is_closing():
            self.transport.close()
