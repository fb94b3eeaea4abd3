"""Our webhook as an operator runs it out of cluster: `serve --kubeconfig`, registered by URL with the
MutatingWebhookConfiguration the chart renders (its rules, selectors, failurePolicy, reinvocationPolicy and
timeout; only `clientConfig` becomes a URL, since there is no kube-proxy to route a Service)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.apiserver.cluster import Cluster, Json
from tests.apiserver.control_plane import ControlPlane
from tests.chart.rendering import Chart
from tests.integration.server_process import (
    Certificates,
    RunningServer,
    Samples,
    scrape,
    start_server,
)

WEBHOOK_NAMESPACE = "identity-system"
"""The webhook's own namespace, as the chart installs it (and excludes it from mutation)."""
MUTATING_CONFIGURATIONS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VALIDATING_CONFIGURATIONS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
_COLLECTIONS = {
    "MutatingWebhookConfiguration": MUTATING_CONFIGURATIONS,
    "ValidatingWebhookConfiguration": VALIDATING_CONFIGURATIONS,
}


@dataclass
class Webhook:
    server: RunningServer
    name: str

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server.port}"

    @property
    def mutate_url(self) -> str:
        return f"{self.url}/mutate"

    def metrics(self) -> Samples:
        return scrape(self.server)

    def stop(self) -> int:
        """SIGINT, which skips `--shutdown-delay`: a stop here is a webhook going away, not a rollout (the
        delay after SIGTERM has tests of its own), and waiting it out would only slow every test."""
        return self.server.stop(signal.SIGINT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP for the block, SIGCONT after: the process sees nothing of what happened meanwhile."""
        self.server.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.server.process.send_signal(signal.SIGCONT)


def registration_from_chart(
    chart: Chart,
    *,
    url: str,
    ca: Path | None,
    values: Mapping[str, Any] | None = None,
    name: str | None = None,
    kind: str = "MutatingWebhookConfiguration",
) -> Json:
    """The chart's MutatingWebhookConfiguration (or `kind`), pointed at `url` and trusting `ca` (None: left
    for self-managed TLS to fill in, as the chart leaves it). A URL ending in `/` is the webhook's base: each
    hook gets the path the chart gives its Service reference."""
    configuration = chart.render(values).one(kind)
    configuration["metadata"] = {"name": name or configuration["metadata"]["name"]}
    for hook in configuration["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": url.rstrip("/") + path if url.endswith("/") else url}
        if ca is not None:
            hook["clientConfig"]["caBundle"] = base64.b64encode(ca.read_bytes()).decode()
    return configuration


@dataclass
class WebhookFactory:
    """Starts `serve` processes against one control plane, registers them, and stops them all at the end."""

    plane: ControlPlane
    executable: Sequence[str]
    cwd: Path
    certificates: Certificates
    chart: Chart
    directory: Path
    log_files: dict[str, Path]
    webhooks: list[Webhook] = field(default_factory=list)

    def start(
        self,
        *args: str,
        name: str,
        port: int | None = None,
        kubeconfig: Path | None = None,
        self_managed_tls: bool = False,
        namespace: str = WEBHOOK_NAMESPACE,
    ) -> Webhook:
        """`serve` with the admin kubeconfig (or `kubeconfig`), files TLS from the test certificates (or
        `--tls-mode self`), and `args`."""
        log = self.directory / f"{name}-{len(self.webhooks)}.log"
        self.log_files[f"webhook {name}"] = log
        server = start_server(
            executable=self.executable,
            cwd=self.cwd,
            certificates=None if self_managed_tls else self.certificates,
            service_account_file=None,
            log=log,
            port=port,
            extra_args=(
                "--kubeconfig", str(kubeconfig or self.plane.kubeconfig),
                "--namespace", namespace,
                "--log-format", "text",
                *(("--tls-mode", "self") if self_managed_tls else ()),
                *args,
            ),
        )  # fmt: skip
        webhook = Webhook(server=server, name=name)
        self.webhooks.append(webhook)
        return webhook

    def register(self, configuration: Json) -> str:
        with self.plane.admin_client() as client:
            created = Cluster(client).create(_COLLECTIONS[configuration["kind"]], configuration)
        name: str = created["metadata"]["name"]
        return name

    def unregister(self, name: str, *, kind: str = "MutatingWebhookConfiguration") -> None:
        with self.plane.admin_client() as client:
            Cluster(client).delete(f"{_COLLECTIONS[kind]}/{name}")

    def point(self, name: str, url: str) -> None:
        """Move every webhook of configuration `name` to `url`, as a Service's endpoints move to a new pod."""
        with self.plane.admin_client() as client:
            cluster = Cluster(client)
            path = f"{MUTATING_CONFIGURATIONS}/{name}"
            hooks = cluster.get(path)["webhooks"]
            cluster.call(
                "PATCH",
                path,
                json=[
                    {"op": "replace", "path": f"/webhooks/{n}/clientConfig/url", "value": url}
                    for n in range(len(hooks))
                ],
                headers={"Content-Type": "application/json-patch+json"},
            )

    @contextlib.contextmanager
    def registered(self, configuration: Json) -> Iterator[str]:
        """The configuration registered for the block only, so tests of one module do not see each other's."""
        name = self.register(configuration)
        try:
            yield name
        finally:
            self.unregister(name, kind=configuration["kind"])

    def stop_all(self) -> None:
        for webhook in self.webhooks:
            webhook.stop()


@dataclass(frozen=True)
class PodIdentityFile:
    """The associations file of `--watch-container-credentials-config`, replaced atomically as the kubelet
    replaces a mounted ConfigMap."""

    path: Path

    def write(self, identities: Sequence[tuple[str, str]]) -> None:
        staged = self.path.with_suffix(".staged")
        staged.write_text(
            json.dumps({"identities": [{"namespace": ns, "serviceAccount": sa} for ns, sa in identities]})
        )
        os.replace(staged, self.path)
