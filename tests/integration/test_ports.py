"""The two ports: one the webhook cannot have stops it with one line, and the metrics port answers the
liveness probe a manifest written for the reference webhook sends there."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.server_process import (
    EXIT_LIMIT_SECONDS,
    Certificates,
    RunningServer,
    clean_environment,
    free_ports,
)


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
