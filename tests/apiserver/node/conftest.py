"""Fixtures of the real-node suite: a control plane that serves a node, the node, the local STS and Pod
Identity agent, and our webhook in front of it all, each started once per session.

The node needs root on Linux (containerd and the kubelet). Without it the suite is skipped with one line,
except under CI=true, where anything missing fails the run: CI must not pass by skipping its proof.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.cluster import Cluster
from tests.apiserver.control_plane import ISSUER, ControlPlane
from tests.apiserver.harness import LOG_FILES, FactoryFor, start_plane
from tests.apiserver.node.controllers import Controllers, start_controllers
from tests.apiserver.node.images import ensure_images
from tests.apiserver.node.local_aws import LocalAws, Servers, serve
from tests.apiserver.node.node import Node, start_node
from tests.apiserver.node.running import ACCOUNT_ID, REGION, MakeRole, PodRunner
from tests.apiserver.webhook_process import PodIdentityFile, Webhook, registration_from_chart
from tests.chart.rendering import Chart
from tests.chart.tools import ensure
from tests.integration.server_process import Certificates, clean_environment

NEEDS_ROOT = "tests/apiserver/node needs root on Linux (it runs containerd and a kubelet)"
CAN_RUN = sys.platform == "linux" and os.geteuid() == 0
MUST_RUN = os.environ.get("CI") == "true"

if not CAN_RUN and not MUST_RUN:
    collect_ignore_glob = ["test_*.py"]  # one summary line below instead of a skip per test


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CAN_RUN and not MUST_RUN:
        terminalreporter.write_line(f"SKIPPED {NEEDS_ROOT}: not run")


@pytest.fixture(scope="session", autouse=True)
def runs_as_root() -> None:
    """Fails under CI; skips tests named on the command line elsewhere (the others are not collected)."""
    if not CAN_RUN and MUST_RUN:
        pytest.fail(f"{NEEDS_ROOT}: CI must run it")
    if not CAN_RUN:
        pytest.skip(f"{NEEDS_ROOT}: skipped")


@pytest.fixture(scope="session")
def node_plane(binaries: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start_plane(binaries, tmp_path_factory.mktemp("node-plane"), "node", serves_nodes=True)
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def node(
    node_plane: ControlPlane, repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    kubelet = ensure(repo_root, "ensure-kubelet")
    containerd = ensure(repo_root, "ensure-node-runtime")
    images = ensure_images(repo_root / ".tools" / "images")
    directory = tmp_path_factory.mktemp("node")
    for name in ("containerd", "kubelet"):
        LOG_FILES[f"node {name}"] = directory / f"{name}.log"
    started = time.monotonic()
    running = start_node(
        kubelet=kubelet, containerd=containerd, directory=directory, plane=node_plane, images=images
    )
    print(f"node {running.name} Ready in {time.monotonic() - started:.1f}s")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def controllers(
    node: Node, node_plane: ControlPlane, repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Controllers]:
    """The scheduler and the deployment and replicaset controllers, for tests whose pods come from Deployments;
    stopped before the node."""
    directory = tmp_path_factory.mktemp("controllers")
    for name in ("kube-scheduler", "kube-controller-manager"):
        LOG_FILES[f"node {name}"] = directory / f"{name}.log"
    running = start_controllers(
        scheduler=ensure(repo_root, "ensure-kube-scheduler"),
        controller_manager=ensure(repo_root, "ensure-kube-controller-manager"),
        plane=node_plane,
        directory=directory,
    )
    yield running
    running.stop()


@pytest.fixture(scope="session")
def aws(node_plane: ControlPlane) -> LocalAws:
    return LocalAws(
        issuer=ISSUER, service_account_public_key=node_plane.pki.service_account_public_key.read_bytes()
    )


@pytest.fixture(scope="session")
def aws_servers(aws: LocalAws) -> Iterator[Servers]:
    servers = serve(aws)
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def make_role(aws: LocalAws, webhook_executable: list[str], repo_root: Path) -> MakeRole:
    """Create an IAM role whose trust policy is what our `trust-policy` command prints for the arguments."""

    def make(name: str, *arguments: str) -> str:
        web_identity = (
            () if "--pod-identity" in arguments else ("--issuer", ISSUER, "--account-id", ACCOUNT_ID)
        )
        printed = subprocess.run(
            [*webhook_executable, "trust-policy", *web_identity, *arguments],
            cwd=repo_root,
            env=clean_environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert printed.returncode == 0, f"trust-policy {' '.join(arguments)}: {printed.stderr}"
        policy: dict[str, Any] = json.loads(printed.stdout)
        arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        aws.create_role(arn, policy)
        return arn

    return make


@pytest.fixture(scope="session")
def associations_file(tmp_path_factory: pytest.TempPathFactory) -> PodIdentityFile:
    file = PodIdentityFile(tmp_path_factory.mktemp("node-pod-identity") / "associations.json")
    file.write([])
    return file


@pytest.fixture(scope="session")
def node_webhook(
    node_plane: ControlPlane,
    aws_servers: Servers,
    associations_file: PodIdentityFile,
    factory_for: FactoryFor,
    webhook_certificates: Certificates,
    chart: Chart,
) -> Iterator[Webhook]:
    """Our webhook registered by the chart's configuration, sending Pod Identity pods to the local agent."""
    factory = factory_for(node_plane)
    webhook = factory.start(
        "--watch-container-credentials-config", str(associations_file.path),
        "--container-credentials-full-uri", aws_servers.agent_url,
        "--aws-default-region", REGION,
        name="node",
    )  # fmt: skip
    factory.register(registration_from_chart(chart, url=webhook.mutate_url, ca=webhook_certificates.ca))
    yield webhook
    factory.stop_all()


@pytest.fixture(scope="session")
def runner(
    node: Node, node_plane: ControlPlane, node_webhook: Webhook, aws_servers: Servers, repo_root: Path
) -> Iterator[PodRunner]:
    sdk = Path(ensure(repo_root, "ensure-pod-sdk"))
    with node_plane.admin_client() as client:
        yield PodRunner(cluster=Cluster(client), node_name=node.name, sdk=sdk, sts_url=aws_servers.sts_url)
