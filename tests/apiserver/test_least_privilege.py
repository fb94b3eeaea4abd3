"""Least privilege, proven: the webhook runs with a ServiceAccount token bound to exactly the Roles and
ClusterRoles our chart renders, for each `certificates.mode`, with the flags the chart's Deployment passes,
and works; with one rule of the chart taken away it does not become ready and says which permission it lacks.

Each case renders the chart with its own `fullnameOverride`, so its ServiceAccount, roles, Secret and webhook
configuration are its own on the module's control plane, and unregisters its configuration at the end so
the next case's pods reach only the next case's webhook.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from tests.apiserver.cluster import Cluster, Json, eventually, pod, until_pods_show
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.rbac import RuleLoss, create_chart_identity, service_account_token, token_client
from tests.apiserver.webhook_process import (
    MUTATING_CONFIGURATIONS,
    WEBHOOK_NAMESPACE,
    WebhookFactory,
    registration_from_chart,
)
from tests.chart.rendering import Chart, Rendered
from tests.e2e.pod_assertions import irsa_problems
from tests.integration.server_process import EXIT_LIMIT_SECONDS, Certificates, clean_environment, free_ports

ROLE = "arn:aws:iam::111122223333:role/least-privilege"
MAPPED_ROLE = "arn:aws:iam::111122223333:role/from-the-mappings"
MAPPINGS_CONFIG_MAP = "pod-identity-webhook"
SET_BY_THE_TEST = frozenset(
    {"--port", "--metrics-port", "--tls-cert", "--tls-key", "--tls-mode", "--log-format"}
)
"""Deployment flags the test replaces: loopback ports, the test's certificate files (files modes), the TLS
mode (the factory's switch) and the text log format the failure report and the checks below read."""
OUT_OF_CLUSTER_SELF_MODE = ("--tls-extra-dns-names", "localhost", "--tls-check-interval", "1")
"""What self mode needs here besides the chart's flags: the URL's host name, and passes close together."""


@dataclass(frozen=True)
class Mode:
    certificates: str
    mappings: bool

    def values(self, certificates: Certificates) -> Json:
        chosen: Json = {"certificates": {"mode": self.certificates}}
        if self.certificates == "secret":
            chosen["certificates"]["secret"] = {
                "name": "bring-your-own-tls",
                "caBundle": base64.b64encode(certificates.ca.read_bytes()).decode(),
            }
        return {
            **chosen,
            "mappings": {"enabled": self.mappings},
            "fullnameOverride": f"piw-{self.certificates}",
        }


def deployment_flags(rendered: Rendered) -> list[str]:
    """The server's arguments as the chart's Deployment passes them, less `SET_BY_THE_TEST`."""
    command, *flags = rendered.args
    assert command == "serve"
    return [flag for flag in flags if flag.split("=", 1)[0] not in SET_BY_THE_TEST]


def self_mode(rendered: Rendered) -> bool:
    return rendered.flag("--tls-mode") == "self"


@dataclass
class Identity:
    rendered: Rendered
    account: str
    kubeconfig: Path


class MakeIdentity(Protocol):
    def __call__(self, rendered: Rendered, loss: RuleLoss | None = None) -> Identity: ...


@pytest.fixture
def identity_for(own_cluster: Cluster, own_plane: ControlPlane, tmp_path: Path) -> MakeIdentity:
    """Create the chart's ServiceAccount and RBAC (less `loss`) and a kubeconfig with the account's token."""

    def make(rendered: Rendered, loss: RuleLoss | None = None) -> Identity:
        account = create_chart_identity(own_cluster, rendered, loss=loss)
        token = service_account_token(own_cluster, account)
        kubeconfig = own_plane.write_kubeconfig(tmp_path / f"{account}.kubeconfig", token=token)
        with token_client(own_plane, token) as client:
            assert client.get("/api/v1/secrets").status_code == 403, (
                "the token must not be an administrator's"
            )
        return Identity(rendered=rendered, account=account, kubeconfig=kubeconfig)

    return make


@pytest.fixture
def registered(own_webhooks: WebhookFactory) -> Iterator[list[str]]:
    """Configurations a test registers; unregistered after it so they call no later test's pods."""
    names: list[str] = []
    yield names
    for name in names:
        own_webhooks.unregister(name)


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(Mode(certificates="self", mappings=True), id="self-with-mappings"),
        pytest.param(Mode(certificates="cert-manager", mappings=True), id="cert-manager-with-mappings"),
        pytest.param(Mode(certificates="secret", mappings=False), id="secret"),
    ],
)
def test_the_webhook_works_with_only_what_the_chart_grants(
    mode: Mode,
    chart: Chart,
    own_cluster: Cluster,
    own_webhooks: WebhookFactory,
    webhook_certificates: Certificates,
    identity_for: MakeIdentity,
    registered: list[str],
) -> None:
    values = mode.values(webhook_certificates)
    identity = identity_for(chart.render(values))
    rendered = identity.rendered
    namespace = own_cluster.namespace()
    own_cluster.service_account(namespace, "with-role", annotations={"eks.amazonaws.com/role-arn": ROLE})
    own_cluster.delete(f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}/configmaps/{MAPPINGS_CONFIG_MAP}")
    port = free_ports(1)[0]
    registered.append(
        own_webhooks.register(
            registration_from_chart(
                chart,
                url=f"https://localhost:{port}/mutate",
                ca=None if self_mode(rendered) else webhook_certificates.ca,
                values=values,
            )
        )
    )
    assert (rendered.flag("--watch-config-map") is not None) == mode.mappings

    webhook = own_webhooks.start(
        *deployment_flags(rendered),
        *(OUT_OF_CLUSTER_SELF_MODE if self_mode(rendered) else ()),
        name=f"least-privilege-{mode.certificates}",
        port=port,
        kubeconfig=identity.kubeconfig,
        self_managed_tls=self_mode(rendered),
    )
    try:
        until_pods_show(
            lambda: own_cluster.create_pod(namespace, pod(service_account="with-role")),
            expected=lambda stored: not irsa_problems(stored, role_arn=ROLE),
        )
        # A ServiceAccount made after the start reaches the webhook through its watch (or a direct read).
        own_cluster.service_account(namespace, "mapped")
        if mode.mappings:
            own_cluster.config_map(
                WEBHOOK_NAMESPACE,
                MAPPINGS_CONFIG_MAP,
                {"config": json.dumps({f"{namespace}/mapped": {"RoleARN": MAPPED_ROLE}})},
            )
            until_pods_show(
                lambda: own_cluster.create_pod(namespace, pod(service_account="mapped")),
                expected=lambda stored: not irsa_problems(stored, role_arn=MAPPED_ROLE),
            )
        if self_mode(rendered):
            secret = own_cluster.get(
                f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}/secrets/{rendered.flag('--tls-secret')}"
            )
            configuration = own_cluster.get(
                f"{MUTATING_CONFIGURATIONS}/{rendered.flag('--webhook-config-name')}"
            )
            assert [hook["clientConfig"]["caBundle"] for hook in configuration["webhooks"]] == [
                secret["data"]["ca.crt"]
            ]
        assert "forbidden" not in webhook.server.output()
    finally:
        webhook.stop()


@dataclass
class UnreadyWebhook:
    """`serve` started without waiting for it to become ready: with a permission missing, it never is."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def readiness(self) -> httpx.Response:
        """/readyz as the kubelet probes it, with no certificate check (self mode may serve a placeholder);
        an AssertionError while nothing answers yet, so `eventually` keeps asking."""
        try:
            return httpx.get(f"https://127.0.0.1:{self.port}/readyz", verify=False, timeout=10)
        except httpx.TransportError as error:
            raise AssertionError(f"/readyz did not answer: {error!r}") from error

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=EXIT_LIMIT_SECONDS)


def start_unwaited(
    factory: WebhookFactory, *args: str, name: str, port: int, kubeconfig: Path
) -> UnreadyWebhook:
    metrics_port = free_ports(1)[0]
    log = factory.directory / f"{name}.log"
    factory.log_files[f"webhook {name}"] = log
    command = [
        *factory.executable, "serve",
        "--port", str(port), "--metrics-port", str(metrics_port), "--bind-address", "127.0.0.1",
        "--kubeconfig", str(kubeconfig), "--namespace", WEBHOOK_NAMESPACE, "--log-format", "text",
        "--tls-mode", "self", *args,
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=factory.cwd, env=clean_environment(), stdout=output, stderr=output
        )
    return UnreadyWebhook(process=process, port=port, log=log)


@pytest.mark.parametrize(
    ("loss", "complaint", "not_ready_because"),
    [
        pytest.param(
            RuleLoss(kind="ClusterRole", resource="serviceaccounts", verb="list"),
            'cannot list resource "serviceaccounts"',
            "ServiceAccount cache not synced yet",
            id="serviceaccounts-list",
        ),
        pytest.param(
            RuleLoss(kind="Role", resource="configmaps", verb="list"),
            'cannot list resource "configmaps"',
            "role mappings ConfigMap not read yet",
            id="configmaps-list",
        ),
        pytest.param(
            RuleLoss(kind="Role", resource="secrets", verb="create"),
            'cannot create resource "secrets"',
            "no serving certificate loaded yet",
            id="secrets-create",
        ),
        pytest.param(
            RuleLoss(kind="ClusterRole", resource="mutatingwebhookconfigurations", verb="update"),
            'cannot update resource "mutatingwebhookconfigurations"',
            "no serving certificate loaded yet",
            id="mutatingwebhookconfigurations-update",
        ),
    ],
)
def test_a_rule_the_chart_lost_keeps_the_webhook_unready_and_names_the_permission(
    loss: RuleLoss,
    complaint: str,
    not_ready_because: str,
    chart: Chart,
    own_webhooks: WebhookFactory,
    identity_for: MakeIdentity,
    registered: list[str],
) -> None:
    """Unready is what an operator sees in a cluster: the Service gets no endpoints and no pod is mutated."""
    values = {
        "mappings": {"enabled": True},
        "fullnameOverride": f"piw-lost-{loss.resource}-{loss.verb}",
    }
    identity = identity_for(chart.render(values), loss)
    port = free_ports(1)[0]
    registered.append(
        own_webhooks.register(
            registration_from_chart(chart, url=f"https://localhost:{port}/mutate", ca=None, values=values)
        )
    )
    webhook = start_unwaited(
        own_webhooks,
        *deployment_flags(identity.rendered),
        *OUT_OF_CLUSTER_SELF_MODE,
        name=f"lost-{loss.resource}-{loss.verb}",
        port=port,
        kubeconfig=identity.kubeconfig,
    )
    try:

        def stuck_for_the_lost_permission() -> httpx.Response:
            """Other sources may still be loading when the complaint is logged: wait for them to settle."""
            assert webhook.process.poll() is None, f"serve exited:\n{webhook.output()}"
            assert complaint in webhook.output()
            answer = webhook.readiness()
            assert answer.json()["detail"] == not_ready_because
            return answer

        answer = eventually(stuck_for_the_lost_permission)
        assert answer.status_code == 503
    finally:
        webhook.stop()
