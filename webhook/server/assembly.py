"""Assembles the running server from its parts and runs it until SIGTERM.

Start-up never waits for the cluster: the listener comes up at once and `/readyz` turns ready when the
ServiceAccount cache has synced and a certificate is loaded, so probes tell the truth.

Shutdown loses no admission. On SIGTERM the webhook keeps accepting and answering for `--shutdown-delay`,
every answer with `Connection: close`: the API server (or a kube-proxy rule) may still send pods here until
it has seen the endpoint go, and the keep-alive connections it holds outlive that; closed after an answer,
they are left cleanly and the next pod goes elsewhere. Then it stops listening, closes idle connections at
once (an idle connection whose client never completes the TLS close must not hold the exit), lets requests
in flight finish (up to `--shutdown-timeout`) and exits, about a second after the last answer. SIGINT
(Ctrl-C) skips the delay, as does a second SIGTERM during it.
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
import time
from collections.abc import Coroutine, Iterator, Mapping
from types import FrameType
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
from webhook.server.listening import bound, effective_bind_address, open_listener, url_host
from webhook.server.metrics_port import start_metrics_server
from webhook.server.review_protocol import ReviewHttpProtocol
from webhook.server.serviceaccount_review import VALIDATE_SERVICEACCOUNT_PATH, ServiceAccountReviewer
from webhook.tls.startup import start_tls

log = logging.getLogger("webhook.server")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
KEEP_ALIVE_SECONDS = 120
"""How long an idle connection is kept: longer than the API server's own 90 s (client-go's idle timeout), so
the API server always closes first. With uvicorn's 5 s, a connection closed just as the API server reuses it
fails that POST (Go does not retry it), and with failurePolicy Ignore the pod starts without credentials."""


_CONNECTION_CLOSE = (b"connection", b"close")
LINGER_SECONDS = 1.0
"""After the last answer, how long closing connections get to deliver it and finish the TLS close before
they are cut: a client that never answers the close must not hold the exit."""


class _Server(uvicorn.Server):
    """uvicorn's server with the shutdown above. uvicorn re-raises a caught SIGTERM after draining, so the
    process would die by the signal (status 143); SIGTERM is how Kubernetes stops every pod, and after a
    clean drain the webhook exits 0."""

    def __init__(self, config: uvicorn.Config, *, shutdown_delay: float) -> None:
        super().__init__(config)
        self._shutdown_delay = shutdown_delay
        self._stop_at: float | None = None
        """When the delay ends, from the SIGTERM that began it; None before one."""
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Runs as the signal handler, between two steps of the event loop: it only records what to do;
        `on_tick`, in the loop, does it."""
        if self.should_exit:
            self.force_exit = self.force_exit or sig == signal.SIGINT
        elif sig == signal.SIGTERM and self._shutdown_delay > 0 and self._stop_at is None:
            self._stop_at = time.monotonic() + self._shutdown_delay
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if self._stop_at is None:
            return False
        if not self._draining:
            self._draining = True
            log.info(
                "SIGTERM: answering for %gs more with Connection: close, then stopping (--shutdown-delay)",
                self._shutdown_delay,
            )
            for connection in list(self.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                if cycle is not None and not cycle.response_complete:
                    cycle.keep_alive = False  # an answer on its way closes its connection too
        if _CONNECTION_CLOSE not in self.server_state.default_headers:
            # uvicorn renews the default headers every second: every answer from now on says close.
            self.server_state.default_headers = [*self.server_state.default_headers, _CONNECTION_CLOSE]
        if time.monotonic() >= self._stop_at:
            self.should_exit = True
        return self.should_exit

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop listening, close idle connections now, let requests in flight finish, then cut what is left."""
        log.info("stopped listening; finishing %d request(s) in flight", len(self.server_state.tasks))
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while self.server_state.tasks and not self.force_exit:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            log.error(
                "%d request(s) still unanswered after --shutdown-timeout=%ss; stopping them",
                len(self.server_state.tasks), self.config.timeout_graceful_shutdown,
            )  # fmt: skip
            for task in self.server_state.tasks:
                task.cancel()
        linger_until = time.monotonic() + LINGER_SECONDS
        while self.server_state.connections and time.monotonic() < linger_until and not self.force_exit:
            await asyncio.sleep(0.05)
        for connection in list(self.server_state.connections):
            connection.transport.abort()
        while self.server_state.connections:
            await asyncio.sleep(0.01)

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
        http=ReviewHttpProtocol,
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
            reviews = (
                {
                    VALIDATE_SERVICEACCOUNT_PATH: ServiceAccountReviewer(
                        settings=settings, configuration=sources.configuration
                    )
                }
                if args.serviceaccount_warnings
                else {}
            )
            app = WebhookApp(
                handler=handler,
                fallback=health_app(ready=ready),
                max_request_bytes=args.max_request_bytes,
                more_reviews=reviews,
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
            await _Server(config, shutdown_delay=args.shutdown_delay).serve(sockets=[listener])
        finally:
            await tls.stop()
    finally:
        sources.stop()
