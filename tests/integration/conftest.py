"""Fixtures of the integration tests: the product's own certificates, a ServiceAccount file, the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.server_process import (
    Certificates,
    Launch,
    RunningServer,
    generate_certificates,
    start_server,
)

ROLE_ARN = "arn:aws:iam::111122223333:role/checkout"
SERVICE_ACCOUNTS = f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: checkout
  namespace: shop
  annotations:
    eks.amazonaws.com/role-arn: {ROLE_ARN}
    unrelated.example.com/owner: team-checkout
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: regional
  namespace: shop
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/regional
    eks.amazonaws.com/sts-regional-endpoints: "true"
    eks.amazonaws.com/token-expiration: "3600"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: misconfigured
  namespace: shop
  annotations:
    eks.amazonaws.com/role-arn: checkout-role
    eks.amazonaws.com/token-expiration: "60"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: shop
"""
SERVICE_ACCOUNT_COUNT = SERVICE_ACCOUNTS.count("kind: ServiceAccount")
MAX_REQUEST_BYTES = 256 * 1024


@pytest.fixture(scope="session")
def certificates(
    tmp_path_factory: pytest.TempPathFactory, webhook_executable: list[str], repo_root: Path
) -> Certificates:
    return generate_certificates(
        executable=webhook_executable, directory=tmp_path_factory.mktemp("tls"), cwd=repo_root
    )


@pytest.fixture(scope="session")
def service_account_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serviceaccounts") / "serviceaccounts.yaml"
    path.write_text(SERVICE_ACCOUNTS)
    return path


@pytest.fixture(scope="session")
def launch(
    tmp_path_factory: pytest.TempPathFactory,
    webhook_executable: list[str],
    repo_root: Path,
    certificates: Certificates,
    service_account_file: Path,
) -> Iterator[Launch]:
    """Start servers on demand; any still running at the end are stopped. They stop at once on SIGTERM
    (`--shutdown-delay=0`) unless a test gives the delay: tests/integration/test_shutdown.py does."""
    started: list[RunningServer] = []

    def start(*extra_args: str) -> RunningServer:
        server = start_server(
            executable=webhook_executable,
            cwd=repo_root,
            certificates=certificates,
            service_account_file=service_account_file,
            log=tmp_path_factory.mktemp("serve") / "serve.log",
            extra_args=(
                "--shutdown-delay=0",
                "--max-request-bytes",
                str(MAX_REQUEST_BYTES),
                "--aws-default-region",
                "eu-west-1",
                *extra_args,
            ),
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.terminate()


@pytest.fixture(scope="session")
def server(launch: Launch) -> RunningServer:
    """One server shared by the tests that only add to its counters (they compare before and after)."""
    return launch()


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """An HTTPS client of the shared server that trusts only the webhook's CA, as the API server does."""
    with server.client() as client:
        yield client
