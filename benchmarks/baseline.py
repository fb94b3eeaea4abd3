"""The ceiling our server stack allows: a bare ASGI app that reads the review and answers a constant response.

It runs on the same uvicorn settings and TLS as `pod-identity-webhook serve`, so the difference between the
two is what our admission handling costs. Each input has its own constant answer (the real server's
answer to it, recorded beforehand), chosen by the request path, so both send the same bytes back.

Run: `python -m benchmarks.baseline --tls-cert C --tls-key K --port P --responses DIR`, where DIR holds
`<input>.json` files; the app answers `POST /<input>` with that file and `GET /readyz` with 200.

With `--decode` it is the **parse floor** instead: before answering it decodes the review with the webhook's
own decoder (`webhook.admission_review.decode_review`). No correct webhook can answer without reading the
review, so the floor is the least any of them can cost on this stack.

With `--scan` it reads each review's JSON through without building anything (`handler_budget.scan_review`):
what merely checking the JSON costs, below any decoder that keeps the fields it needs.

With `--spin-us N` it busy-waits N µs per request before answering (`benchmarks.handler_budget`): what a
handler's time costs the server, whatever the handler does.

With `--direct` the same constant answers (and the same `--decode`, `--scan` or `--spin-us` work) are given
by review handlers inside the webhook's own HTTP protocol (`webhook.server.review_protocol`), not by an ASGI
app: the ceiling, and with `--decode` the parse floor, of the path our server answers reviews on.

With `--allow` (no `--responses`) it is a do-nothing webhook a real API server can call: every review is
answered allowed, with its own uid and no patch. A constant answer would not do there, since the API server
rejects an answer whose uid is not the request's; so this mode decodes each review with `json.loads`, the
least any correct webhook does. `benchmarks.apiserver_latency` registers it in place of ours.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import server_settings
from benchmarks.handler_budget import scan_review, spinner
from webhook.server.admission import Answer
from webhook.server.admission_review import decode_review
from webhook.server.http_app import WebhookApp, health_app

Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_READY = b'{"status":"ok"}'


class ConstantReviewApp:
    def __init__(self, responses: dict[str, bytes], *, work: Callable[[bytes], object] | None) -> None:
        self._responses = {
            f"/{name}": (
                [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                body,
            )
            for name, body in responses.items()
        }
        self._ready = ([(b"content-type", b"application/json"), (b"content-length", b"15")], _READY)
        self._work = work
        """What the app does with each review before answering, if anything."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers, body = self._responses.get(scope["path"], self._ready)
        review = await _read_body(receive)
        if self._work is not None and review:
            self._work(review)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ConstantReviewHandler:
    """One input's constant answer, given on the webhook's own review path."""

    def __init__(self, answer: bytes, *, work: Callable[[bytes], object] | None) -> None:
        self._answer = Answer(200, answer)
        self._work = work

    def answer(self, body: bytes) -> Answer:
        if self._work is not None:
            self._work(body)
        return self._answer

    def refuse(self, *, status: int, reason: str, started: float) -> Answer:
        return Answer(status, reason.encode())


def direct_app(responses: dict[str, bytes], *, work: Callable[[bytes], object] | None) -> WebhookApp:
    """The constant answers as review paths of a WebhookApp, so the server's protocol answers them itself."""
    handlers = {f"/{name}": ConstantReviewHandler(body, work=work) for name, body in responses.items()}
    return WebhookApp(
        handler=next(iter(handlers.values())),
        fallback=health_app(ready=lambda: (True, "ready")),
        max_request_bytes=16 * 1024 * 1024,
        more_reviews=handlers,
    )


class AllowingApp:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        review = await _read_body(receive)
        body = allowed(review) if scope["method"] == "POST" else _READY
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def allowed(review: bytes) -> bytes:
    """The same AdmissionReview version back, as the API server requires, allowing the request unchanged."""
    request = json.loads(review)
    return json.dumps(
        {
            "apiVersion": request["apiVersion"],
            "kind": "AdmissionReview",
            "response": {"uid": request["request"]["uid"], "allowed": True},
        }
    ).encode()


async def _read_body(receive: Receive) -> bytes:
    """Any real handler needs the review in one piece, so the ceiling pays for that too."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _work(*, decode: bool, scan: bool, spin_us: float | None) -> Callable[[bytes], object] | None:
    if decode:
        return decode_review
    if scan:
        return scan_review
    return spinner(spin_us) if spin_us is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline", description=__doc__)
    parser.add_argument("--tls-cert", type=Path, required=True)
    parser.add_argument("--tls-key", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind-address", default="127.0.0.1")
    answers = parser.add_mutually_exclusive_group(required=True)
    answers.add_argument("--responses", type=Path, help="directory of <input>.json answers")
    answers.add_argument(
        "--allow", action="store_true", help="allow every review unchanged: a do-nothing webhook"
    )
    work = parser.add_mutually_exclusive_group()
    work.add_argument("--decode", action="store_true", help="decode each review first: the parse floor")
    work.add_argument("--scan", action="store_true", help="read each review's JSON through, building nothing")
    work.add_argument("--spin-us", type=float, metavar="N", help="busy-wait N µs per review first")
    parser.add_argument(
        "--direct", action="store_true", help="answer on the webhook's own review path, not as an ASGI app"
    )
    args = parser.parse_args()
    app: ConstantReviewApp | AllowingApp | WebhookApp
    if args.allow:
        app = AllowingApp()
    else:
        responses = {path.stem: path.read_bytes() for path in sorted(args.responses.glob("*.json"))}
        review_work = _work(decode=args.decode, scan=args.scan, spin_us=args.spin_us)
        app = (
            direct_app(responses, work=review_work)
            if args.direct
            else ConstantReviewApp(responses, work=review_work)
        )
    server_settings.serve(
        app,
        host=args.bind_address,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


if __name__ == "__main__":
    main()
