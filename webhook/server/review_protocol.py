"""Reviews answered inside the HTTP protocol, without an ASGI cycle.

uvicorn serves every request as an ASGI cycle: a scope, a cycle object, an event-loop task, a message dict
for the body and one for each of the two writes (head, then body), each write its own TLS record and
`send`. On this stack that costs more than reading the review does: the bare ASGI app answering a constant
takes about 43 µs of CPU per request, a bare httptools protocol over the same TLS about 17 µs
(benchmarks/hot_path.md, round 6). A review is a POST whose whole body the handler needs before it can
answer, and whose answer is ready at once whenever the pod's ServiceAccount is cached, so the protocol
collects the body itself, calls the handler, and writes head and body together.

Only the plain case is taken here: a POST to a review path whose headers `WebhookApp` would accept, with
nothing else in flight on the connection. Everything else (another method or path, a content type or size
to refuse, `Expect: 100-continue`, an upgrade, a request pipelined behind another) goes the ASGI way as
before, and is answered there with the same checks and the same answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httptools
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from webhook.server.admission import Answer
from webhook.server.http_app import DISCONNECTED_EARLY, ReviewHandler, WebhookApp, too_large
from webhook.server.http_protocol import GuardedHttpToolsProtocol

log = logging.getLogger("webhook.http")

_INTERNAL_ERROR = b"Internal Server Error"


@dataclass(slots=True, kw_only=True)
class _Review:
    """A review this connection answers itself, from the end of its head to its answer."""

    handler: ReviewHandler
    started: float
    keep_alive: bool
    limit: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    arrived: bool = False
    """Its whole body is in; from then on the parser is reading whatever comes next."""
    answered: bool = False


class ReviewHttpProtocol(GuardedHttpToolsProtocol):
    """GuardedHttpToolsProtocol, answering plain review requests itself (see the module)."""

    _review: _Review | None = None
    """The review being read or answered; None between requests and while ASGI serves one."""

    def connection_lost(self, exc: Exception | None) -> None:
        review = self._review
        if review is not None and not review.arrived:
            log.info(DISCONNECTED_EARLY)
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        review = self._direct_review()
        if review is None:
            super().on_headers_complete()
            return
        self._head_arrived()
        self._review = review

    def on_body(self, body: bytes) -> None:
        review = self._review
        if review is None or review.arrived:
            super().on_body(body)
            return
        if review.answered:
            return  # refused as too large; the rest of the body is read and dropped
        review.size += len(body)
        if review.size > review.limit:
            refused = review.handler.refuse(
                status=413, reason=too_large(review.limit), started=review.started
            )
            self._send(review, refused)
            return
        review.chunks.append(body)

    def on_message_complete(self) -> None:
        review = self._review
        if review is None or review.arrived:
            super().on_message_complete()
            return
        self._request_arrived()
        review.arrived = True
        if review.answered:
            self._review = None
            return
        chunks = review.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        review.chunks = []
        try:
            answer = review.handler.answer(body)
        except Exception:  # the handlers answer every fault of their own; this is a last resort
            log.exception("review request failed")
            self._send(review, None)
            return
        if isinstance(answer, Answer):
            self._send(review, answer)
            return
        task = self.loop.create_task(self._send_when_ready(review, answer))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def shutdown(self) -> None:
        review = self._review
        if review is not None and not review.answered:
            review.keep_alive = False  # closed once answered
            return
        super().shutdown()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        """A request pipelined behind a review still being answered waits its turn, as uvicorn's own
        pipelining makes it wait behind an ASGI cycle; `on_response_complete` starts it."""
        if self._review is not None:
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))
            return
        super()._start_asgi_task(cycle, app)

    def _direct_review(self) -> _Review | None:
        app = self.app
        if (
            self._review is not None
            or self.pipeline
            or (self.cycle is not None and not self.cycle.response_complete)
            or self.expect_100_continue
            or not isinstance(app, WebhookApp)
            or self.parser.get_method() != b"POST"
            or self.parser.should_upgrade()
        ):
            return None
        handler = app.direct_handler(httptools.parse_url(self.url).path, self.headers)
        if handler is None:
            return None
        return _Review(
            handler=handler,
            started=time.perf_counter(),
            keep_alive=self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive(),
            limit=app.max_request_bytes,
        )

    async def _send_when_ready(self, review: _Review, pending: Awaitable[Answer]) -> None:
        try:
            answer: Answer | None = await pending
        except Exception:
            log.exception("review request failed")
            answer = None
        self._send(review, answer)

    def _send(self, review: _Review, answer: Answer | None) -> None:
        """Head and body in one write, so in one TLS record; None is the answer to a fault."""
        review.answered = True
        if review.arrived:
            self._review = None
        if self.transport.is_closing():
            return  # the client is gone
        if answer is None:
            review.keep_alive = False
            status, body, content_type = 500, _INTERNAL_ERROR, b"text/plain; charset=utf-8"
        else:
            status, body, content_type = answer.status, answer.body, b"application/json"
        head = [STATUS_LINE[status]]
        says_close = False
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
            # While draining, the server adds `connection: close` to every answer: then it must close too.
            says_close = says_close or (name == b"connection" and b"close" in value.lower())
        head += [b"content-type: ", content_type, b"\r\ncontent-length: ", b"%d" % len(body), b"\r\n"]
        if says_close:
            review.keep_alive = False
        elif not review.keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", body]
        self.transport.write(b"".join(head))
        if not review.keep_alive:
            self.transport.close()
        self.on_response_complete()
