"""The HTTP layer: translates HTTP to the admission handler and back, and nothing else.

`POST /mutate` is served by a bare ASGI function on the raw body: it is on every pod creation's critical
path and FastAPI's request machinery would cost more than the admission itself. Most reviews do not even
take the ASGI way: `review_protocol.py` answers them inside the HTTP protocol through `direct_handler`,
with the checks this module defines. Every other endpoint is an ordinary FastAPI route.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from webhook.server.admission import Answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MUTATE_PATH = "/mutate"
DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""The API server caps a pod at ~1.5 MB in etcd; a review holds it once (oldObject is null on CREATE)."""

log = logging.getLogger("webhook.http")

_JSON_HEADERS = [(b"content-type", b"application/json")]


def health_app(*, ready: Callable[[], tuple[bool, str]]) -> FastAPI:
    """Liveness answers while the process serves; readiness waits for the cache sync and a certificate."""
    app = FastAPI(title="pod-identity-webhook", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/livez")
    @app.get("/healthz")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readiness() -> JSONResponse:
        is_ready, detail = ready()
        return JSONResponse(
            {"status": "ok" if is_ready else "not ready", "detail": detail}, 200 if is_ready else 503
        )

    return app


class ReviewHandler(Protocol):
    """Answers the AdmissionReviews of one path; the HTTP layer only translates."""

    def answer(self, body: bytes) -> Answer | Awaitable[Answer]:
        """The answer, or something to await for it when it needs I/O first."""
        ...

    def refuse(self, *, status: int, reason: str, started: float) -> Answer: ...


class WebhookApp:
    """The ASGI application uvicorn serves: the review paths (`/mutate`, and `/validate-serviceaccount`
    when given) on the fast path, the rest delegated to FastAPI.

    Most reviews never reach `__call__`: `ReviewHttpProtocol` answers them inside the HTTP protocol through
    `direct_handler`. The ASGI way serves the rest (methods to refuse, bodies announced too large, a
    request pipelined behind another) with the same checks and answers."""

    def __init__(
        self,
        *,
        handler: ReviewHandler,
        fallback: FastAPI,
        max_request_bytes: int,
        more_reviews: Mapping[str, ReviewHandler] | None = None,
    ) -> None:
        self._handlers: dict[str, ReviewHandler] = {MUTATE_PATH: handler, **(more_reviews or {})}
        self._raw_paths = {path.encode(): handler for path, handler in self._handlers.items()}
        self._fallback = fallback
        self.max_request_bytes = max_request_bytes

    def direct_handler(self, raw_path: bytes, headers: list[tuple[bytes, bytes]]) -> ReviewHandler | None:
        """The handler of a POST to `raw_path`, when the request may be answered without ASGI: its path is
        a review path and its headers are ones `__call__` would accept."""
        handler = self._raw_paths.get(raw_path)
        if handler is None or _refusal(headers, max_request_bytes=self.max_request_bytes) is not None:
            return None
        return handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self._fallback(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["method"] != "POST":
            await self._refuse(
                handler,
                send,
                405,
                f"use POST for {scope['path']}",
                started=started,
                extra=[(b"allow", b"POST")],
            )
            return
        problem = _refusal(scope["headers"], max_request_bytes=self.max_request_bytes)
        if problem is not None:
            await self._refuse(handler, send, *problem, started=started)
            return
        try:
            body = await self._read_body(receive)
        except _ClientDisconnectedError:
            log.info(DISCONNECTED_EARLY)
            return
        if body is None:
            await self._refuse(handler, send, 413, too_large(self.max_request_bytes), started=started)
            return
        answer = handler.answer(body)
        if not isinstance(answer, Answer):
            answer = await answer
        await _respond(send, answer.status, answer.body)

    async def _refuse(
        self,
        handler: ReviewHandler,
        send: Send,
        status: int,
        reason: str,
        *,
        started: float,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        refused = handler.refuse(status=status, reason=reason, started=started)
        await _respond(send, refused.status, refused.body, extra=extra)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it grows past the limit (checked even without Content-Length)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientDisconnectedError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(max_request_bytes: int) -> str:
    return f"request body exceeds {max_request_bytes} bytes"


def _refusal(headers: list[tuple[bytes, bytes]], *, max_request_bytes: int) -> tuple[int, str] | None:
    """(status, reason) when the headers alone show a review is not one to read; None when they are fine."""
    content_type = b""
    for name, value in headers:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length" and value.isdigit() and int(value) > max_request_bytes:
            return 413, too_large(max_request_bytes)
    if content_type.split(b";", 1)[0].strip().lower() != b"application/json":
        return 415, "content-type must be application/json"
    return None


DISCONNECTED_EARLY = "a client disconnected before its admission request was complete; nothing answered"


class _ClientDisconnectedError(Exception):
    """The client left before sending its whole request (the API server gave up on its timeout): a partial
    body is not a malformed review, and there is no one to answer."""


async def _respond(
    send: Send, status: int, body: bytes, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
