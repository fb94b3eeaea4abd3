"""The plain-HTTP metrics port: Prometheus metrics on every path, as before, and with
`--enable-debugging-handlers` the reference's `GET /debug/alpha/cache`.

prometheus_client's own server serves only its metrics app; this is the same threaded WSGI server around an
app that adds the one debugging route. Off, the route answers 404, as the reference's mux does.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

DEBUG_CACHE_PATH = "/debug/alpha/cache"
CacheDump = Callable[[], dict[str, dict[str, Any]]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: scrapes every few seconds would drown the webhook's own log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def metrics_app(
    *, registry: CollectorRegistry, cache_dump: CacheDump | None
) -> Callable[..., Iterable[bytes]]:
    """`cache_dump` is given only with --enable-debugging-handlers."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != DEBUG_CACHE_PATH:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if cache_dump is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"404 page not found\n"]
        # As the reference's json.MarshalIndent(cache, "", " "): keys in order, one space per level.
        dump = cache_dump()
        body = json.dumps({key: dump[key] for key in sorted(dump)}, indent=" ").encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def start_metrics_server(
    *, host: str, port: int, registry: CollectorRegistry, cache_dump: CacheDump | None
) -> WSGIServer:
    """Serve the metrics port from a daemon thread; `shutdown()` stops it."""

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(
        host, port, metrics_app(registry=registry, cache_dump=cache_dump), Server, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
