"""Assembles the running server from its parts and runs it until SIGTERM.

Start-up never waits for the cluster: the listener comes up at once and `/readyz` turns ready when the
ServiceAccount cache has synced and a certificate is loaded, so probes tell the truth. On SIGTERM uvicorn
stops accepting connections and lets in-flight requests finish (up to `--shutdown-timeout`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, Protocol

import uvicorn
import uvloop

from webhook import __version__
from webhook.cluster.runtime_sources import start_identity_sources
from webhook.engine.identity import service_account_entry
from webhook.engine.settings import MutationSettings
from webhook.metrics import CACHE_SYNCED, READY, REGISTRY
from webhook.server.admission import AdmissionHandler
from webhook.server.http_app import WebhookApp, health_app
from webhook.server.http_protocol import GuardedHttpToolsProtocol
from webhook.server.listening import bound, effective_bind_address, open_listener, url_host
from webhook.server.metrics_port import start_metrics_server
from webhook.tls.startup import start_tls

log = logging.getLogger("webhook.server")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
KEEP_ALIVE_SECONDS = 120
"""How long an idle connection is kept: longer than the API server's own 90 s (client-go's idle timeout), so
the API server always closes first. With uvicorn's 5 s, a connection closed just as the API server reuses it
fails that POST (Go does not retry it), and with failurePolicy Ignore the pod starts without credentials."""


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after draining, so the process dies by the signal (status 143).
    SIGTERM is how Kubernetes stops every pod: after a clean drain the webhook exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop: uvicorn chooses it only inside its own `run()`, which the server does not use."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def uvicorn_config(
    app: Any, *, host: str, port: int, ssl_context: ssl.SSLContext, shutdown_timeout: int | None = None
) -> uvicorn.Config:
    """The uvicorn settings of the server; the benchmark's baseline app is served with the same."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_context_factory=lambda _config, _default: ssl_context,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the API server calls the webhook directly; no proxy to trust
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        http=GuardedHttpToolsProtocol,
        timeout_graceful_shutdown=shutdown_timeout,
    )


async def serve(args: argparse.Namespace, *, settings: MutationSettings) -> None:
    """Both ports are bound first: one that cannot be had stops the webhook before anything else starts."""
    host = effective_bind_address(args.bind_address)
    listener = open_listener(host=host, port=args.port, flag="--port")
    cache_dump = _CacheDump(settings=settings) if args.enable_debugging_handlers else None
    with contextlib.closing(listener):
        metrics_server = bound(
            lambda: start_metrics_server(
                host=host, port=args.metrics_port, registry=REGISTRY, cache_dump=cache_dump
            ),
            host=host,
            port=args.metrics_port,
            flag="--metrics-port",
        )
        try:
            await _serve_on(listener, host=host, args=args, settings=settings, cache_dump=cache_dump)
        finally:
            metrics_server.shutdown()
            metrics_server.server_close()
    log.info("stopped")


class _HeldServiceAccounts(Protocol):
    def contents(self) -> list[tuple[str, str, Mapping[str, str]]]: ...


class _CacheDump:
    """`GET /debug/alpha/cache`: the ServiceAccounts the webhook holds, in the reference's shape. The metrics
    port is bound before the sources start, so it shows nothing until they are in place."""

    def __init__(self, *, settings: MutationSettings) -> None:
        self._settings = settings
        self.service_accounts: _HeldServiceAccounts | None = None

    def __call__(self) -> dict[str, dict[str, Any]]:
        if self.service_accounts is None:
            return {}
        return {
            f"{namespace}/{name}": service_account_entry(
                namespace=namespace, service_account=name, annotations=annotations, settings=self._settings
            )
            for namespace, name, annotations in self.service_accounts.contents()
        }


async def _serve_on(
    listener: socket.socket,
    *,
    host: str,
    args: argparse.Namespace,
    settings: MutationSettings,
    cache_dump: _CacheDump | None,
) -> None:
    sources = start_identity_sources(args, settings=settings)
    if cache_dump is not None:
        cache_dump.service_accounts = sources.service_accounts
    try:
        tls = await start_tls(args, namespace=sources.namespace, api_client=sources.api_client)
        try:

            def ready() -> tuple[bool, str]:
                if not tls.loaded:
                    return False, "no serving certificate loaded yet"
                return sources.synced()

            # Read at scrape time, so alerts see what the probes see without a second source of truth.
            READY.set_function(lambda: float(ready()[0]))
            CACHE_SYNCED.set_function(lambda: float(sources.service_accounts.synced))
            handler = AdmissionHandler(
                settings=settings,
                service_accounts=sources.service_accounts,
                configuration=sources.configuration,
            )
            app = WebhookApp(
                handler=handler, fallback=health_app(ready=ready), max_request_bytes=args.max_request_bytes
            )
            config = uvicorn_config(
                app,
                host=host,
                port=args.port,
                ssl_context=tls.context,
                shutdown_timeout=args.shutdown_timeout,
            )
            log.info(
                "pod-identity-webhook %s serving on https://%s:%d/mutate, metrics on http://%s:%d/metrics",
                __version__, url_host(host), args.port, url_host(host), args.metrics_port,
            )  # fmt: skip
            await _Server(config).serve(sockets=[listener])
        finally:
            await tls.stop()
    finally:
        sources.stop()
