"""The two ports: where they listen, how long they keep a connection, the one-line error when one cannot be
had, and the liveness probe a manifest written for the reference webhook sends to the metrics port."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.server_process import (
    EXIT_LIMIT_SECONDS,
    Certificates,
    Launch,
    RunningServer,
    clean_environment,
    free_ports,
)
from webhook.cli import build_parser
from webhook.server.listening import url_host


def test_metrics_port_answers_a_liveness_probe_written_for_the_reference(server: RunningServer) -> None:
    assert httpx.get(f"http://127.0.0.1:{server.metrics_port}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_a_port_already_in_use_is_a_one_line_error(
    flag: str,
    certificates: Certificates,
    service_account_file: Path,
    webhook_executable: list[str],
    repo_root: Path,
) -> None:
    port, metrics_port = free_ports(2)
    taken = {"--port": port, "--metrics-port": metrics_port}[flag]
    with socket.create_server(("127.0.0.1", taken)):
        completed = subprocess.run(
            [
                *webhook_executable, "serve",
                "--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key),
                "--service-account-file", str(service_account_file),
                "--bind-address", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
            ],
            cwd=repo_root,
            env=clean_environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=EXIT_LIMIT_SECONDS,
        )  # fmt: skip

    assert completed.returncode == 1
    assert completed.stderr == (
        f"pod-identity-webhook: error: cannot listen on 127.0.0.1:{taken} ({flag}): "
        "the address is already in use by another process or container\n"
    )


def test_by_default_both_ports_take_ipv6_and_ipv4_connections(launch: Launch) -> None:
    """As Go's `:port` does for the reference: IPv6-only and dual-stack clusters reach the webhook too."""
    server = launch("--bind-address", build_parser().parse_args(["serve"]).bind_address)

    for address in ("127.0.0.1", "::1"):
        with socket.create_connection((address, server.port), timeout=10) as raw:
            tls = server.tls_context().wrap_socket(raw, server_hostname="localhost")
            tls.close()
        assert (
            httpx.get(f"http://{url_host(address)}:{server.metrics_port}/metrics", timeout=10).status_code
            == 200
        )


def test_an_idle_connection_outlives_uvicorns_default_keep_alive(server: RunningServer) -> None:
    """The API server keeps idle connections 90 s and must always be the one to close them: a connection it
    reuses just as the webhook closes it fails that admission."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        server.tls_context().wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert livez_on(tls).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # uvicorn's default keep-alive is 5 s
        assert livez_on(tls).startswith(b"HTTP/1.1 200")


def livez_on(connection: ssl.SSLSocket) -> bytes:
    """GET /livez on an open connection: the whole answer, or what came before the server closed it."""
    connection.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"ok"}'):
        received = connection.recv(4096)
        if not received:
            break
        answer += received
    return answer
