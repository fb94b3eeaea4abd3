"""An ASGI app served in this process behind exactly the uvicorn settings `serve` uses, over TLS."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from webhook.server.assembly import uvicorn_config
from webhook.tls.certs import generate_bundle
from webhook.tls.serving import ServingTLS

GENEROUS_WAIT = 30.0
"""A bound on how long the server may take to do what it should, not a measurement."""


class Server:
    def __init__(self, port: int, ca_cert: bytes, running: uvicorn.Server) -> None:
        self.port = port
        self.running = running
        self._client = ssl.create_default_context(cadata=ca_cert.decode())

    def connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=GENEROUS_WAIT)
        return self._client.wrap_socket(raw, server_hostname="localhost")


@contextmanager
def serving(app: Any) -> Iterator[Server]:
    bundle = generate_bundle(dns_names=["localhost"])
    tls = ServingTLS()
    tls.load_pem(cert=bundle.cert, key=bundle.key)
    listener = socket.create_server(("127.0.0.1", 0))
    config = uvicorn_config(app, host="127.0.0.1", port=0, ssl_context=tls.context)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + GENEROUS_WAIT
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Server(listener.getsockname()[1], bundle.ca_cert, running)
    finally:
        running.should_exit = True
        thread.join(timeout=GENEROUS_WAIT)
        listener.close()
