"""How the API server calls us, beyond one v1 call per pod: reinvoked after a later webhook adds a container,
and through a configuration that speaks only AdmissionReview v1beta1."""

from __future__ import annotations

import copy

import pytest

from tests.apiserver.cluster import Cluster, env_of, pod
from tests.apiserver.sidecar_webhook import SIDECAR, sidecar_webhook
from tests.apiserver.webhook_process import Webhook, WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.e2e.pod_assertions import irsa_problems

ROLE = "arn:aws:iam::111122223333:role/reinvoked"


@pytest.fixture(scope="module")
def ours(own_webhooks: WebhookFactory) -> Webhook:
    return own_webhooks.start(name="ours")


@pytest.fixture(scope="module")
def namespace(own_cluster: Cluster) -> str:
    name = own_cluster.namespace()
    own_cluster.service_account(name, "app", annotations={"eks.amazonaws.com/role-arn": ROLE})
    return name


def test_a_container_added_by_a_later_webhook_gets_credentials_on_reinvocation(
    own_cluster: Cluster, own_webhooks: WebhookFactory, ours: Webhook, chart: Chart, namespace: str
) -> None:
    ca = own_webhooks.certificates.ca
    # The API server calls configurations in the order of their names: ours first, the injector second.
    first = registration_from_chart(chart, url=ours.mutate_url, ca=ca, name="a-pod-identity")
    with sidecar_webhook(own_webhooks.certificates) as injector_url:
        second = copy.deepcopy(first)
        second["metadata"]["name"] = "b-injector"
        second["webhooks"][0] |= {
            "name": "injector.example.com",
            "clientConfig": {
                "url": injector_url,
                "caBundle": first["webhooks"][0]["clientConfig"]["caBundle"],
            },
            "reinvocationPolicy": "Never",
        }
        with own_webhooks.registered(first), own_webhooks.registered(second):
            stored = own_cluster.create_pod(namespace, pod(service_account="app"))

    assert [container["name"] for container in stored["spec"]["containers"]] == ["app", SIDECAR]
    assert env_of(stored, SIDECAR)["AWS_ROLE_ARN"] == ROLE
    assert irsa_problems(stored, role_arn=ROLE) == []


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_each_admission_review_version_the_chart_allows_mutates_the_pod(
    own_cluster: Cluster,
    own_webhooks: WebhookFactory,
    ours: Webhook,
    chart: Chart,
    namespace: str,
    version: str,
) -> None:
    configuration = registration_from_chart(
        chart, url=ours.mutate_url, ca=own_webhooks.certificates.ca, name=f"only-{version}"
    )
    assert version in configuration["webhooks"][0]["admissionReviewVersions"]
    configuration["webhooks"][0]["admissionReviewVersions"] = [version]
    with own_webhooks.registered(configuration):
        stored = own_cluster.create_pod(namespace, pod(service_account="app"))
    assert irsa_problems(stored, role_arn=ROLE) == []
