"""`serve --tls-mode self` as a real process against the in-test API server: it makes its certificate,
publishes the CA, and the API server's view (trust the caBundle, dial the Service name) then works."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_apiserver import FakeApiServer
from tests.integration.server_process import (
    EXIT_LIMIT_SECONDS,
    STARTUP_LIMIT_SECONDS,
    clean_environment,
    free_ports,
)
from tests.tls.tls_support import NAMESPACE, stored_configuration, webhook_configuration

SERVICE_HOST = f"pod-identity-webhook.{NAMESPACE}.svc"


def readyz(port: int, ca_bundle: bytes) -> bytes:
    """GET /readyz as the API server would connect: trusting only the caBundle, checking the Service name."""
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=SERVICE_HOST) as tls,
    ):
        tls.sendall(f"GET /readyz HTTP/1.1\r\nHost: {SERVICE_HOST}\r\nConnection: close\r\n\r\n".encode())
        return b"".join(iter(lambda: tls.recv(4096), b""))


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def assert_running(self) -> None:
        assert self.process.poll() is None, f"serve exited early:\n{self.log.read_text(errors='replace')}"


@pytest.fixture
def self_managed_server(
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> Iterator[Server]:
    fake_apiserver.apply(webhook_configuration())
    port, metrics_port = free_ports(2)
    command = [
        *webhook_executable, "serve", "--tls-mode", "self", "--tls-check-interval", "1",
        "--kubeconfig", str(fake_kubeconfig), "--namespace", NAMESPACE,
        "--service-account-file", str(repo_root / "examples" / "serviceaccounts.yaml"),
        "--port", str(port), "--metrics-port", str(metrics_port), "--bind-address", "127.0.0.1",
    ]  # fmt: skip
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=repo_root, env=clean_environment(), stdout=log, stderr=log)
    try:
        yield Server(port=port, process=process, log=tmp_path / "serve.log")
    finally:
        process.terminate()
        process.wait(timeout=EXIT_LIMIT_SECONDS)


def test_serve_in_self_mode_is_trusted_through_the_ca_bundle_it_publishes(
    self_managed_server: Server, fake_apiserver: FakeApiServer
) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while True:
        bundle = stored_configuration(fake_apiserver)["webhooks"][0]["clientConfig"].get("caBundle")
        try:
            if bundle and readyz(self_managed_server.port, base64.b64decode(bundle)).startswith(
                b"HTTP/1.1 200"
            ):
                break
        except OSError:
            pass
        self_managed_server.assert_running()
        assert time.monotonic() < deadline, f"not ready within {STARTUP_LIMIT_SECONDS} s"
        time.sleep(0.1)

    secret = fake_apiserver.get("v1", "Secret", "pod-identity-webhook", NAMESPACE)
    assert secret is not None
    assert base64.b64decode(bundle) == base64.b64decode(secret["data"]["ca.crt"])
