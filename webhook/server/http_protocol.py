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


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, plus: a request head over MAX_HEAD_BYTES is answered 431 and the connection
    closed; a head not complete within HEAD_TIMEOUT_SECONDS closes the connection; a connection beyond
    MAX_CONNECTIONS is closed as soon as it is made."""

    _awaiting_head = True
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        # Checked after parsing: a chunk that completes the head resets the count, so a body that arrives
        # with its headers is never mistaken for a long head.
        if self._awaiting_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._disarm_head_timer()
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._request_arrived()
        super().on_message_complete()

    def _head_arrived(self) -> None:
        """The guards' part of the end of a request's head, for subclasses that answer it themselves."""
        self._awaiting_head = False
        self._head_bytes = 0
        self._disarm_head_timer()

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

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_overdue)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            self.transport.close()
