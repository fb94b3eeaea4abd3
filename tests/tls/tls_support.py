"""Helpers of the TLS tests: a real uvicorn server on a ServingTLS context, a verifying HTTPS client, a
certificate directory laid out the way the kubelet mounts a Secret volume, and the webhook configuration
the self-managed mode writes its caBundle into."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509

from tests.fake_apiserver import FakeApiServer
from webhook.tls.certs import CertificateBundle

NAMESPACE = "webhook-system"
"""Where the self-managed tests run the webhook."""


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: answers every HTTP request with `ok`."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def uvicorn_server(context: ssl.SSLContext) -> Iterator[int]:
    """uvicorn listening on 127.0.0.1 with the given context, wired the way `serve` wires ServingTLS's."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        hello_app,
        ssl_context_factory=lambda _config, _default: context,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def client_context(ca_cert: bytes, *, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """What the API server does: trust only the webhook's CA and check the name."""
    context = ssl.create_default_context(cadata=ca_cert.decode())
    if max_version is not None:
        context.maximum_version = max_version
    return context


def https_connection(port: int, ca_cert: bytes, **options: Any) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", port, context=client_context(ca_cert, **options), timeout=10
    )


def get_ok(connection: http.client.HTTPSConnection) -> None:
    connection.request("GET", "/")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"ok")


def served_certificate(connection: http.client.HTTPSConnection) -> x509.Certificate:
    assert isinstance(connection.sock, ssl.SSLSocket)
    der = connection.sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def certificate_of(bundle: CertificateBundle) -> x509.Certificate:
    return x509.load_pem_x509_certificate(bundle.cert)


def handshake(
    port: int, ca_cert: bytes, *, server_hostname: str | None = None, **options: Any
) -> x509.Certificate:
    """One bare TLS handshake, optionally with SNI, returning the certificate the server presented."""
    context = client_context(ca_cert, **options)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname or "127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


@dataclass
class SecretVolume:
    """A directory laid out like the kubelet's Secret volume: `tls.crt -> ..data/tls.crt`,
    `..data -> ..<timestamp>/`; an update writes a new timestamped directory and renames a new `..data`
    symlink over the old one, so both files change in one atomic step."""

    root: Path
    generation: int = 0

    @property
    def cert_path(self) -> Path:
        return self.root / "tls.crt"

    @property
    def key_path(self) -> Path:
        return self.root / "tls.key"

    def publish(self, bundle: CertificateBundle) -> None:
        self.generation += 1
        version = self.root / f"..2024_01_01_00_00_{self.generation:02d}.000000000"
        version.mkdir()
        (version / "tls.crt").write_bytes(bundle.cert)
        (version / "tls.key").write_bytes(bundle.key)
        staged = self.root / "..data_tmp"
        staged.symlink_to(version.name)
        os.replace(staged, self.root / "..data")
        for name in ("tls.crt", "tls.key"):
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")


def webhook_configuration(**client_config: str) -> dict[str, Any]:
    """Two webhooks, each with a field no client library knows (it must survive the caBundle writes)."""

    def hook(name: str) -> dict[str, Any]:
        service = {"name": "pod-identity-webhook", "namespace": NAMESPACE, "path": "/mutate", "port": 443}
        return {
            "name": name,
            "clientConfig": {"service": service, **client_config},
            "futureField": {"kept": True},
        }

    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "pod-identity-webhook", "labels": {"app": "pod-identity-webhook"}},
        "webhooks": [hook("pod-identity-webhook.amazonaws.com"), hook("second.amazonaws.com")],
    }


def stored_configuration(fake_apiserver: FakeApiServer) -> dict[str, Any]:
    configuration = fake_apiserver.get(
        "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "pod-identity-webhook"
    )
    assert configuration is not None
    return configuration
