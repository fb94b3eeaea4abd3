"""`--tls-extra-dns-names`: names beyond the Service's in the self-managed certificate, so an API server that
reaches the webhook by URL (out of cluster: https://localhost:PORT, a node's name) can verify it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from kubernetes.client import ApiClient

from tests.fake_apiserver import FakeApiServer
from tests.integration.server_process import EXIT_LIMIT_SECONDS, clean_environment
from tests.tls.tls_support import NAMESPACE, webhook_configuration
from webhook.cli.options import FlagParser
from webhook.cli.tls_options import add_tls_options
from webhook.errors import ConfigurationError
from webhook.tls.certs import is_issued_by, load_certificate
from webhook.tls.self_managed import SelfManagedSettings, SelfManagedTLS, service_dns_names
from webhook.tls.serving import ServingTLS
from webhook.tls.startup import self_managed_settings_from

SERVICE_NAMES = service_dns_names(
    service="pod-identity-webhook", namespace=NAMESPACE, cluster_domain="cluster.local"
)


def settings(*arguments: str) -> SelfManagedSettings:
    parser = FlagParser()
    add_tls_options(parser)
    return self_managed_settings_from(
        parser.parse_args(["--tls-mode", "self", *arguments]), namespace=NAMESPACE
    )


def served_names(api: ApiClient, arguments: tuple[str, ...]) -> tuple[bytes, list[str]]:
    """One reconcile pass with these flags: the certificate served and the DNS names it holds."""
    serving = ServingTLS()
    SelfManagedTLS(api_client=api, serving=serving, settings=settings(*arguments)).reconcile()
    assert serving.certificate is not None
    names = (
        load_certificate(serving.certificate)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value.get_values_for_type(x509.DNSName)
    )
    return serving.certificate, names


def test_without_the_flag_the_certificate_names_only_the_service() -> None:
    assert settings().dns_names == SERVICE_NAMES


def test_extra_names_follow_the_service_names_in_their_order_each_once() -> None:
    chosen = settings("--tls-extra-dns-names", " localhost,node-1.example ,,localhost,pod-identity-webhook")
    assert chosen.dns_names == (*SERVICE_NAMES, "localhost", "node-1.example")


def test_the_environment_variable_sets_the_extra_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_TLS_EXTRA_DNS_NAMES", "localhost,*.nodes.example")
    assert settings().dns_names == (*SERVICE_NAMES, "localhost", "*.nodes.example")


def test_the_served_certificate_holds_the_service_and_the_extra_names(
    fake_apiserver: FakeApiServer, cluster: ApiClient
) -> None:
    fake_apiserver.apply(webhook_configuration())
    _, names = served_names(cluster, ("--tls-extra-dns-names", "localhost,node-1.example"))
    assert names == [*SERVICE_NAMES, "localhost", "node-1.example"]


def test_a_name_added_later_gets_a_new_certificate_from_the_same_ca(
    fake_apiserver: FakeApiServer, cluster: ApiClient
) -> None:
    """Replicas restarted with the flag must not keep serving a certificate the URL's name cannot verify."""
    fake_apiserver.apply(webhook_configuration())
    before, _ = served_names(cluster, ())
    after, names = served_names(cluster, ("--tls-extra-dns-names", "localhost"))
    assert after != before
    assert "localhost" in names
    secret = fake_apiserver.get("v1", "Secret", "pod-identity-webhook", NAMESPACE)
    assert secret is not None
    assert is_issued_by(after, base64.b64decode(secret["data"]["ca.crt"]))
    assert is_issued_by(before, base64.b64decode(secret["data"]["ca.crt"]))


@pytest.mark.parametrize("name", ["node_1.example", "-node.example", "node..example", "nöde.example"])
def test_a_name_no_certificate_can_hold_stops_the_start_naming_the_flag(name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^--tls-extra-dns-names: .*DNS name"):
        settings(f"--tls-extra-dns-names=localhost,{name}")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_an_ip_address_is_refused_because_clients_would_never_match_it(address: str) -> None:
    with pytest.raises(ConfigurationError, match=r"is an IP address.*DNS names only"):
        settings(f"--tls-extra-dns-names={address}")


def test_serve_with_a_bad_name_exits_with_one_line_naming_the_flag(
    webhook_executable: list[str], repo_root: Path
) -> None:
    command = [
        *webhook_executable, "serve", "--tls-mode", "self", "--kube-api", "https://127.0.0.1:9",
        "--tls-extra-dns-names", "node_1", "--port", "1", "--metrics-port", "2",
    ]  # fmt: skip
    completed = subprocess.run(
        command,
        cwd=repo_root,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=EXIT_LIMIT_SECONDS,
    )
    assert completed.returncode == 1
    assert "--tls-extra-dns-names: not a DNS name: 'node_1'" in completed.stderr
