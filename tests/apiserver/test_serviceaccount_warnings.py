"""ServiceAccount warnings as a user meets them: `kubectl apply` of a ServiceAccount written wrong prints the
webhook's warning and the ServiceAccount is stored all the same; written right, nothing is printed; with the
webhook gone, ServiceAccounts are still written (the chart's `failurePolicy: Ignore`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.apiserver.chart_roles import kubeconfig_with_chart_roles
from tests.apiserver.cluster import Cluster, unique_name
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import Webhook, WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.chart.scenarios import SECRET

ROLE = "arn:aws:iam::111122223333:role/warned"
KUBECTL_LIMIT_SECONDS = 120


@pytest.fixture(scope="module")
def running(
    own_plane: ControlPlane,
    own_webhooks: WebhookFactory,
    chart: Chart,
    tmp_path_factory: pytest.TempPathFactory,
) -> Webhook:
    """The webhook as the chart runs it (warnings on by default; files TLS, as with `certificates.mode:
    secret`), with a token of the chart's ServiceAccount: the warnings need no permission of their own."""
    kubeconfig = kubeconfig_with_chart_roles(
        own_plane, chart, values=SECRET, path=tmp_path_factory.mktemp("warnings") / "webhook.kubeconfig"
    )
    assert chart.render(SECRET).flag("--serviceaccount-warnings") == ""
    return own_webhooks.start("--serviceaccount-warnings", name="warnings", kubeconfig=kubeconfig)


@pytest.fixture
def webhook(own_webhooks: WebhookFactory, chart: Chart, running: Webhook) -> Iterator[Webhook]:
    """Our webhook with the warnings on, registered by the chart's ValidatingWebhookConfiguration for the
    test only."""
    configuration = registration_from_chart(
        chart, url=running.url + "/", ca=own_webhooks.certificates.ca, kind="ValidatingWebhookConfiguration"
    )
    assert configuration["webhooks"][0]["clientConfig"]["url"].endswith("/validate-serviceaccount")
    with own_webhooks.registered(configuration):
        yield running


@pytest.fixture(scope="module")
def namespace(own_cluster: Cluster) -> str:
    return own_cluster.namespace()


def kubectl_apply(
    plane: ControlPlane, manifest: dict[str, object], directory: Path
) -> subprocess.CompletedProcess[str]:
    path = directory / f"{unique_name('manifest')}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(plane.kubeconfig), "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=KUBECTL_LIMIT_SECONDS,
    )


def serviceaccount(namespace: str, name: str, annotations: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
    }


@pytest.mark.parametrize(
    ("annotations", "warning"),
    [
        pytest.param(
            {"eks.amazon.com/role-arn": ROLE},
            "the ServiceAccount's annotation eks.amazon.com/role-arn is not read: did you mean "
            "eks.amazonaws.com/role-arn?",
            id="misspelt-annotation",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": "arn:aws:iam::1234:role/warned"},
            "role 'arn:aws:iam::1234:role/warned' is not an IAM role ARN",
            id="bad-arn",
        ),
    ],
)
def test_kubectl_apply_prints_the_warning_and_the_serviceaccount_is_stored(
    own_plane: ControlPlane,
    own_cluster: Cluster,
    webhook: Webhook,
    namespace: str,
    tmp_path: Path,
    annotations: dict[str, str],
    warning: str,
) -> None:
    name = unique_name("sa")

    applied = kubectl_apply(own_plane, serviceaccount(namespace, name, annotations), tmp_path)

    assert applied.returncode == 0, applied.stderr
    assert f"Warning: serviceaccount {namespace}/{name}: {warning}" in applied.stderr
    stored = own_cluster.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
    assert stored["metadata"]["annotations"].items() >= annotations.items()


def test_an_update_that_breaks_the_role_is_warned_about_and_one_that_mends_it_is_not(
    own_plane: ControlPlane, webhook: Webhook, namespace: str, tmp_path: Path
) -> None:
    name = unique_name("sa")
    created = kubectl_apply(
        own_plane, serviceaccount(namespace, name, {"eks.amazonaws.com/role-arn": ROLE}), tmp_path
    )
    assert (created.returncode, created.stderr) == (0, "")

    broken = kubectl_apply(
        own_plane, serviceaccount(namespace, name, {"eks.amazonaws.com/role-arn": "warned"}), tmp_path
    )
    mended = kubectl_apply(
        own_plane, serviceaccount(namespace, name, {"eks.amazonaws.com/role-arn": ROLE}), tmp_path
    )

    assert "Warning: " in broken.stderr and "role 'warned' is not an IAM role ARN" in broken.stderr
    assert (mended.returncode, mended.stderr) == (0, "")


def test_the_warning_reaches_any_client_in_the_warning_header(
    own_cluster: Cluster, webhook: Webhook, namespace: str
) -> None:
    response = own_cluster.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        json=serviceaccount(namespace, unique_name("sa"), {"eks.amazonaws.com/token-expiration": "60"}),
    )

    assert response.status_code == 201
    assert response.headers["warning"].startswith('299 - "serviceaccount ')
    assert "token expiration 60s is below the API server's minimum; using 600s" in response.headers["warning"]


def test_serviceaccounts_are_written_without_warnings_while_the_webhook_is_down(
    own_webhooks: WebhookFactory, own_cluster: Cluster, chart: Chart, namespace: str
) -> None:
    down = own_webhooks.start("--serviceaccount-warnings", name="warnings-down")
    configuration = registration_from_chart(
        chart,
        url=down.url + "/",
        ca=own_webhooks.certificates.ca,
        kind="ValidatingWebhookConfiguration",
        name="warnings-down",
    )
    assert configuration["webhooks"][0]["failurePolicy"] == "Ignore"
    with own_webhooks.registered(configuration):
        assert down.stop() == 0
        response = own_cluster.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            json=serviceaccount(namespace, unique_name("sa"), {"eks.amazon.com/role-arn": ROLE}),
        )

    assert response.status_code == 201
    assert "warning" not in response.headers
