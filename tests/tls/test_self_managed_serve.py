"""`serve --tls-mode self` as a real process against the in-test API server: it makes its certificate,
publishes the CA, and the API server's view (trust the caBundle, dial the Service name) then works."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

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
    metrics_port: int
    process: subprocess.Popen[bytes]
    log: Path

    def assert_running(self) -> None:
        assert self.process.poll() is None, f"serve exited early:\n{self.log.read_text(errors='replace')}"


StartServer = Callable[[], Server]


@pytest.fixture
def start_self_managed(
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> Iterator[StartServer]:
    """Start `serve --tls-mode self` against the in-test API server; stopped after the test."""
    fake_apiserver.apply(webhook_configuration())
    started: list[Server] = []

    def start() -> Server:
        port, metrics_port = free_ports(2)
        command = [
            *webhook_executable, "serve", "--tls-mode", "self", "--tls-check-interval", "1",
            "--kubeconfig", str(fake_kubeconfig), "--namespace", NAMESPACE,
            "--service-account-file", str(repo_root / "examples" / "serviceaccounts.yaml"),
            "--port", str(port), "--metrics-port", str(metrics_port), "--bind-address", "127.0.0.1",
        ]  # fmt: skip
        with (tmp_path / "serve.log").open("wb") as log:
            process = subprocess.Popen(
                command, cwd=repo_root, env=clean_environment(), stdout=log, stderr=log
            )
        started.append(
            Server(port=port, metrics_port=metrics_port, process=process, log=tmp_path / "serve.log")
        )
        return started[-1]

    yield start
    for server in started:
        server.process.terminate()
        server.process.wait(timeout=EXIT_LIMIT_SECONDS)


@pytest.fixture
def self_managed_server(start_self_managed: StartServer) -> Server:
    return start_self_managed()


def probe(port: int, path: str) -> bytes:
    """GET `path` as the kubelet's HTTPS probe does: no certificate check at all."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
        return b"".join(iter(lambda: tls.recv(4096), b""))


def ready_metric(server: Server) -> float | None:
    """What the alert on ready replicas reads: `pod_identity_webhook_ready` on the metrics port."""
    response = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=30)
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }.get("pod_identity_webhook_ready")


def test_a_webhook_waiting_for_its_certificate_is_alive_but_not_ready(
    start_self_managed: StartServer, fake_apiserver: FakeApiServer
) -> None:
    """The API server refuses every read (an outage, RBAC still propagating): the kubelet must not restart a
    process that is only waiting, and must not send it traffic either."""
    fake_apiserver.fail_next("get", 403, times=100_000)
    server = start_self_managed()
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while True:
        try:
            if probe(server.port, "/livez").startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            pass
        server.assert_running()
        assert time.monotonic() < deadline, (
            f"/livez never answered:\n{server.log.read_text(errors='replace')}"
        )
        time.sleep(0.1)

    readiness = probe(server.port, "/readyz")
    assert readiness.startswith(b"HTTP/1.1 503")
    assert b"no serving certificate loaded yet" in readiness
    assert ready_metric(server) == 0


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

    assert ready_metric(self_managed_server) == 1
    secret = fake_apiserver.get("v1", "Secret", "pod-identity-webhook", NAMESPACE)
    assert secret is not None
    assert base64.b64decode(bundle) == base64.b64decode(secret["data"]["ca.crt"])
