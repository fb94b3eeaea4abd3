"""The HTTP layer: translates HTTP to the admission handler and back, and nothing else.

`POST /mutate` is served by a bare ASGI function on the raw body: it is on every pod creation's critical
path and FastAPI's request machinery would cost more than the admission itself. Every other endpoint
is an ordinary FastAPI route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from webhook.admission import AdmissionHandler
from webhook.admission_review import encode_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MUTATE_PATH = "/mutate"
DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""The API server caps a pod at ~1.5 MB in etcd; a review holds it once (oldObject is null on CREATE)."""

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


class WebhookApp:
    """The ASGI application uvicorn serves: `/mutate` on the fast path, the rest delegated to FastAPI."""

    def __init__(self, *, handler: AdmissionHandler, fallback: FastAPI, max_request_bytes: int) -> None:
        self._handler = handler
        self._fallback = fallback
        self._max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != MUTATE_PATH:
            await self._fallback(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _respond(send, 405, encode_error("use POST for /mutate"), extra=[(b"allow", b"POST")])
            return
        problem = self._check_headers(scope)
        if problem is not None:
            await _respond(send, *problem)
            return
        body = await self._read_body(receive)
        if body is None:
            await _respond(send, 413, encode_error(f"request body exceeds {self._max_request_bytes} bytes"))
            return
        answer = await self._handler.answer(body)
        await _respond(send, answer.status, answer.body)

    def _check_headers(self, scope: Scope) -> tuple[int, bytes] | None:
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length" and value.isdigit() and int(value) > self._max_request_bytes:
                return 413, encode_error(f"request body exceeds {self._max_request_bytes} bytes")
        if content_type.split(b";", 1)[0].strip().lower() != b"application/json":
            return 415, encode_error("content-type must be application/json")
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it grows past the limit (checked even without Content-Length)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_request_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
