"""Fixtures of the real-API-server suite.

`cluster` is one control plane for the session with our webhook registered the way the chart registers it:
tests that only create pods share it. Tests that restart the API server, stop the webhook or register
webhooks of their own take `own_plane`, a fresh control plane for their module, so no other test sees it.
Each test's failure report ends with the tails of the logs of every process it used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.cluster import Cluster
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.harness import LOG_FILES, FactoryFor, start_plane
from tests.apiserver.webhook_process import (
    WEBHOOK_NAMESPACE,
    PodIdentityFile,
    Webhook,
    WebhookFactory,
    registration_from_chart,
)
from tests.chart.rendering import Chart
from tests.chart.tools import ensure
from tests.integration.server_process import Certificates, generate_certificates

LOG_TAIL_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for name, path in LOG_FILES.items():
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                report.sections.append((f"log of {name} (last {LOG_TAIL_LINES} lines)", "\n".join(tail)))


@pytest.fixture(scope="session")
def binaries(repo_root: Path) -> tuple[str, str]:
    """kube-apiserver and etcd, from the project's own scripts: installed, unpacked or built, never skipped."""
    return ensure(repo_root, "ensure-kube-apiserver"), ensure(repo_root, "ensure-etcd")


@pytest.fixture(scope="session")
def chart(repo_root: Path) -> Chart:
    return Chart(helm=ensure(repo_root, "ensure-helm"), path=repo_root / "charts" / "pod-identity-webhook")


@pytest.fixture(scope="session")
def session_plane(
    binaries: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    plane = start_plane(binaries, tmp_path_factory.mktemp("session-plane"), "session")
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def own_plane(binaries: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start_plane(binaries, tmp_path_factory.mktemp("module-plane"), "module")
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def webhook_certificates(
    tmp_path_factory: pytest.TempPathFactory, webhook_executable: list[str], repo_root: Path
) -> Certificates:
    return generate_certificates(
        executable=webhook_executable, directory=tmp_path_factory.mktemp("webhook-tls"), cwd=repo_root
    )


@pytest.fixture(scope="session")
def pod_identity_file(tmp_path_factory: pytest.TempPathFactory) -> PodIdentityFile:
    file = PodIdentityFile(tmp_path_factory.mktemp("pod-identity") / "associations.json")
    file.write([])
    return file


@pytest.fixture(scope="session")
def factory_for(
    tmp_path_factory: pytest.TempPathFactory,
    webhook_executable: list[str],
    repo_root: Path,
    webhook_certificates: Certificates,
    chart: Chart,
) -> FactoryFor:
    """Webhooks for a control plane, whose own namespace it makes first if needed, as the chart's install does."""

    def factory(plane: ControlPlane) -> WebhookFactory:
        with plane.admin_client() as client:
            if client.get(f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}").status_code == 404:
                Cluster(client).namespace(WEBHOOK_NAMESPACE)
        return WebhookFactory(
            plane=plane,
            executable=webhook_executable,
            cwd=repo_root,
            certificates=webhook_certificates,
            chart=chart,
            directory=tmp_path_factory.mktemp("webhooks"),
            log_files=LOG_FILES,
        )

    return factory


@pytest.fixture(scope="session")
def session_webhook(
    session_plane: ControlPlane,
    factory_for: FactoryFor,
    webhook_certificates: Certificates,
    chart: Chart,
    pod_identity_file: PodIdentityFile,
) -> Iterator[Webhook]:
    """Our webhook, watching the session cluster and registered by the chart's configuration."""
    factory = factory_for(session_plane)
    webhook = factory.start(
        "--watch-config-map",
        "--watch-container-credentials-config", str(pod_identity_file.path),
        "--aws-default-region", "us-west-2",
        name="session",
    )  # fmt: skip
    factory.register(registration_from_chart(chart, url=webhook.mutate_url, ca=webhook_certificates.ca))
    yield webhook
    factory.stop_all()


@pytest.fixture(scope="session")
def cluster(session_plane: ControlPlane, session_webhook: Webhook) -> Iterator[Cluster]:
    """The session's cluster as its administrator sees it, our webhook in front of its pods."""
    with session_plane.admin_client() as client:
        yield Cluster(client)


@pytest.fixture(scope="module")
def own_webhooks(own_plane: ControlPlane, factory_for: FactoryFor) -> Iterator[WebhookFactory]:
    """Start webhooks against the module's own control plane; they are stopped at the module's end."""
    factory = factory_for(own_plane)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def own_cluster(own_plane: ControlPlane) -> Iterator[Cluster]:
    with own_plane.admin_client() as client:
        yield Cluster(client)
