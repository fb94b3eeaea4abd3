"""How the webhook finds its API server and its own namespace."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.config import incluster_config

from tests.cluster.support import service_account
from tests.fake_apiserver import FakeApiServer, write_kubeconfig
from webhook.cluster.kube_client import api_client, webhook_namespace
from webhook.errors import ConfigurationError, ServiceAccountSourceError


@pytest.fixture
def outside_any_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No in-cluster environment, no KUBECONFIG, and an empty home: nothing to find by default."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_an_explicit_kubeconfig_reaches_its_server(
    fake_apiserver: FakeApiServer, fake_kubeconfig: Path
) -> None:
    fake_apiserver.apply(service_account("app", "shop"))

    with closing(api_client(kubeconfig=str(fake_kubeconfig))) as client:
        found = CoreV1Api(client).read_namespaced_service_account("app", "shop")

    assert found.metadata is not None
    assert found.metadata.name == "app"


def test_the_kubeconfig_environment_variable_is_the_default(
    outside_any_cluster: Path,
    fake_kubeconfig: Path,
    fake_apiserver: FakeApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(fake_kubeconfig))

    with closing(api_client()) as client:
        assert client.configuration.host == fake_apiserver.url


def test_an_explicit_kubeconfig_that_cannot_be_used_is_a_configuration_error(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [unclosed")

    with pytest.raises(ConfigurationError, match=r"--kubeconfig .*kubeconfig: cannot be used"):
        api_client(kubeconfig=str(broken))
    with pytest.raises(ConfigurationError, match=r"--kubeconfig .*absent: cannot be used"):
        api_client(kubeconfig=str(tmp_path / "absent"))


def test_with_no_cluster_at_all_the_error_says_what_to_pass(outside_any_cluster: Path) -> None:
    with pytest.raises(ServiceAccountSourceError, match="pass --kubeconfig, or --service-account-file"):
        api_client()


def test_in_a_pod_the_pods_own_credentials_are_used(
    monkeypatch: pytest.MonkeyPatch, outside_any_cluster: Path
) -> None:
    token, ca = outside_any_cluster / "token", outside_any_cluster / "ca.crt"
    token.write_text("pod-token")
    ca.write_text("not checked until a connection is made")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    with closing(api_client()) as client:
        assert client.configuration.host == "https://10.96.0.1:443"
        assert client.configuration.auth_settings()["BearerToken"]["value"] == "bearer pod-token"


def test_in_a_pod_without_a_token_the_error_says_why(
    monkeypatch: pytest.MonkeyPatch, outside_any_cluster: Path
) -> None:
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(outside_any_cluster / "no-token"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    with pytest.raises(ServiceAccountSourceError, match="automountServiceAccountToken"):
        api_client()


def test_kube_api_replaces_the_kubeconfigs_server_and_keeps_its_credentials(
    fake_apiserver: FakeApiServer, tmp_path: Path
) -> None:
    fake_apiserver.apply(service_account("app", "shop"))
    elsewhere = write_kubeconfig(tmp_path / "kubeconfig", server="https://192.0.2.1:6443")

    with closing(api_client(kubeconfig=str(elsewhere), server=fake_apiserver.url + "/")) as client:
        found = CoreV1Api(client).read_namespaced_service_account("app", "shop")

    assert found.metadata is not None
    assert found.metadata.name == "app"
    assert client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer fake-token"


def test_kube_api_alone_is_used_without_credentials_even_in_a_pod(
    fake_apiserver: FakeApiServer, outside_any_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    fake_apiserver.apply(service_account("app", "shop"))

    with closing(api_client(server=fake_apiserver.url)) as client:
        found = CoreV1Api(client).read_namespaced_service_account("app", "shop")

    assert found.metadata is not None
    assert found.metadata.name == "app"
    assert client.configuration.host == fake_apiserver.url
    assert "BearerToken" not in client.configuration.auth_settings()


@pytest.mark.parametrize(
    ("environment", "file_content", "expected"),
    [
        ({"POD_NAMESPACE": "from-env"}, "from-file", "from-env"),
        ({}, "from-file\n", "from-file"),
        ({"POD_NAMESPACE": "  "}, None, "default"),
        ({}, None, "default"),
    ],
)
def test_the_webhook_namespace_comes_from_the_downward_api_then_the_pod_then_default(
    tmp_path: Path, environment: dict[str, str], file_content: str | None, expected: str
) -> None:
    namespace_file = tmp_path / "namespace"
    if file_content is not None:
        namespace_file.write_text(file_content)

    assert webhook_namespace(environ=environment, namespace_file=namespace_file) == expected
