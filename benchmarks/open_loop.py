"""Our load generator: HTTP/1.1 POSTs over pre-opened keep-alive TLS connections, open or closed loop.

Open loop sends at a fixed rate whatever the server does, and measures each latency from the request's
*intended* send time. A server that stalls is therefore charged for every request it held up, not just
the one it was serving (no coordinated omission, as in wrk2). Closed loop sends the next request on a
connection as soon as the previous answer arrives; we use it only to check this generator against wrk.

One thread drives non-blocking sockets through epoll. epoll waits in whole milliseconds, so when the next
send is due sooner than that the loop polls without waiting: the generator owns its CPU, the server has
the other one.
"""

from __future__ import annotations

import contextlib
import gc
import math
import selectors
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.summary import percentile

_SPIN_NS = 2_000_000
"""Closer than this to the next send, poll instead of sleeping in epoll (which rounds up to 1 ms)."""
_LATE_NS = 1_000_000
"""A send this far behind its schedule means the generator (or its connection pool) could not keep up."""
_DRAIN_S = 5.0
"""How long to wait for answers after the last send before counting the rest as errors."""
_HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    host: str
    port: int
    path: str
    body: bytes
    ca_file: Path

    def encode(self) -> bytes:
        """The request as kube-apiserver sends it to a webhook (timeout query, JSON, its user agent)."""
        head = (
            f"POST {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "User-Agent: kube-apiserver-admission\r\n"
            "Accept: application/json, */*\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        )
        return head.encode("ascii") + self.body


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    rate: float | None
    """Requests per second asked for; None for closed loop."""
    duration: float
    """Seconds of the measured window (warm-up excluded)."""
    completed: int
    """Answers to requests of the measured window."""
    answered: int
    """Answers to every request, warm-up included: what the server did during the whole run."""
    errors: int
    """Answers other than 200, and requests lost with a broken connection."""
    unanswered: int
    """Requests still unanswered (or never sent) 5 s after the last was due: the server fell behind."""
    latencies_ns: list[int] = field(repr=False)
    """Sorted, one per completed request of the measured window."""
    queued: int
    """Requests of the measured window that waited for a free connection: the server was behind."""
    late_sends: int
    """Requests sent over 1 ms behind schedule with a connection free: the generator could not keep up."""

    @property
    def failed(self) -> int:
        return self.errors + self.unanswered

    @property
    def throughput(self) -> float:
        return self.completed / self.duration

    def percentile(self, fraction: float) -> float:
        """Latency in seconds at `fraction` (0.99 = p99), nearest rank; 1.0 is the maximum."""
        return percentile(self.latencies_ns, fraction) / 1e9

    @property
    def mean(self) -> float:
        return sum(self.latencies_ns) / len(self.latencies_ns) / 1e9 if self.latencies_ns else math.nan


def open_loop(target: Target, *, rate: float, duration: float, warmup: float, connections: int) -> LoadResult:
    return _Run(target, rate=rate, duration=duration, warmup=warmup, connections=connections).execute()


def closed_loop(target: Target, *, duration: float, warmup: float, connections: int) -> LoadResult:
    return _Run(target, rate=None, duration=duration, warmup=warmup, connections=connections).execute()


class _Connection:
    __slots__ = ("buffer", "in_flight", "outgoing", "sent_at", "sock")

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.outgoing = memoryview(b"")
        self.in_flight = False
        self.sent_at = 0
        """Intended send time (open loop) or actual send time (closed loop) of the request in flight."""


class _Run:
    def __init__(
        self, target: Target, *, rate: float | None, duration: float, warmup: float, connections: int
    ) -> None:
        self._target = target
        self._request = target.encode()
        self._rate = rate
        self._duration = duration
        self._warmup = warmup
        self._connection_count = connections
        self._selector = selectors.EpollSelector()
        self._idle: deque[_Connection] = deque()
        self._busy = 0
        self._latencies: list[int] = []
        self._answered = 0
        self._errors = 0
        self._unanswered = 0
        self._queued = 0
        self._late = 0
        self._measure_from = 0
        self._measure_until = 0

    def execute(self) -> LoadResult:
        with self._connections(), _gc_paused():
            start = time.perf_counter_ns() + 1_000_000
            self._measure_from = start + int(self._warmup * 1e9)
            self._measure_until = self._measure_from + int(self._duration * 1e9)
            if self._rate is None:
                self._closed(start)
            else:
                self._open(start, self._rate)
        return LoadResult(
            rate=self._rate,
            duration=self._duration,
            completed=len(self._latencies),
            answered=self._answered,
            errors=self._errors,
            unanswered=self._unanswered + self._busy,
            latencies_ns=sorted(self._latencies),
            queued=self._queued,
            late_sends=self._late,
        )

    def _open(self, start: int, rate: float) -> None:
        interval = 1e9 / rate
        total = int(rate * (self._warmup + self._duration))
        waiting: deque[int] = deque()
        scheduled = 0
        give_up = self._measure_until + int(_DRAIN_S * 1e9)
        while True:
            now = time.perf_counter_ns()
            carried = len(waiting)
            while scheduled < total and (due := start + int(scheduled * interval)) <= now:
                waiting.append(due)
                scheduled += 1
            while waiting and self._idle:
                due = waiting.popleft()
                if due >= self._measure_from:
                    if carried > 0:
                        self._queued += 1
                    elif now - due > _LATE_NS:
                        self._late += 1
                carried -= 1
                self._send(self._idle.popleft(), sent_at=due)
            if scheduled >= total and not waiting and not self._busy:
                break
            if now > give_up:
                self._unanswered += len(waiting)
                break
            wait = start + int(scheduled * interval) - now if scheduled < total else 10_000_000
            self._poll(0 if wait < _SPIN_NS else (wait - _SPIN_NS) / 1e9)

    def _closed(self, start: int) -> None:
        while time.perf_counter_ns() < start:
            pass
        give_up = self._measure_until + int(_DRAIN_S * 1e9)
        while True:
            now = time.perf_counter_ns()
            if now < self._measure_until:
                while self._idle:
                    self._send(self._idle.popleft(), sent_at=time.perf_counter_ns())
            elif not self._busy or now > give_up:
                break
            self._poll(0.01)

    def _send(self, connection: _Connection, *, sent_at: int) -> None:
        connection.sent_at = sent_at
        connection.in_flight = True
        connection.outgoing = memoryview(self._request)
        self._busy += 1
        self._write(connection)

    def _write(self, connection: _Connection) -> None:
        try:
            while connection.outgoing:
                written = connection.sock.send(connection.outgoing)
                connection.outgoing = connection.outgoing[written:]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            self._selector.modify(connection.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, connection)
            return
        except OSError:
            self._fail(connection)
            return
        self._selector.modify(connection.sock, selectors.EVENT_READ, connection)

    def _poll(self, timeout: float) -> None:
        for key, events in self._selector.select(timeout):
            connection: _Connection = key.data
            if events & selectors.EVENT_WRITE and connection.outgoing:
                self._write(connection)
            if events & selectors.EVENT_READ and connection.sock.fileno() >= 0:
                self._read(connection)

    def _read(self, connection: _Connection) -> None:
        buffer = connection.buffer
        try:
            while chunk := connection.sock.recv(262144):
                buffer += chunk
            self._fail(connection)
            return
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except OSError:
            self._fail(connection)
            return
        header_end = buffer.find(_HEADER_END)
        if header_end < 0:
            return
        length = _content_length(bytes(buffer[:header_end]))
        if length is None:
            self._fail(connection)
            return
        if len(buffer) < header_end + 4 + length:
            return
        finished = time.perf_counter_ns()
        ok = buffer.startswith(b"HTTP/1.1 200 ")
        del buffer[:]
        connection.in_flight = False
        self._busy -= 1
        self._idle.append(connection)
        if not ok:
            self._errors += 1
            return
        self._answered += 1
        if self._measure_from <= connection.sent_at < self._measure_until:
            self._latencies.append(finished - connection.sent_at)

    def _fail(self, connection: _Connection) -> None:
        """A broken connection loses its request, if it had one, and leaves the pool."""
        if connection.in_flight:
            self._errors += 1
            self._busy -= 1
        else:
            self._idle.remove(connection)
        self._selector.unregister(connection.sock)
        connection.sock.close()

    @contextlib.contextmanager
    def _connections(self) -> Iterator[None]:
        context = ssl.create_default_context(cafile=str(self._target.ca_file))
        sockets = []
        try:
            for _ in range(self._connection_count):
                raw = socket.create_connection((self._target.host, self._target.port), timeout=10)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = context.wrap_socket(raw, server_hostname=self._target.host)
                sock.setblocking(False)
                sockets.append(sock)
                connection = _Connection(sock)
                self._selector.register(sock, selectors.EVENT_READ, connection)
                self._idle.append(connection)
            yield
        finally:
            self._selector.close()
            for sock in sockets:
                sock.close()


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """A collection in the generator would show up as server latency."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
