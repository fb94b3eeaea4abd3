"""The webhook is not always there: stopped, it must not stop pod creation (the chart's `failurePolicy:
Ignore`), back, it mutates again; sent SIGTERM while pods are being created, it lets none fail."""

from __future__ import annotations

import threading

import pytest

from tests.apiserver.cluster import Cluster, Json, env_of, pod
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.e2e.pod_assertions import irsa_problems, untouched_problems

ROLE = "arn:aws:iam::111122223333:role/available"


@pytest.fixture(scope="module")
def namespace(own_cluster: Cluster) -> str:
    name = own_cluster.namespace()
    own_cluster.service_account(name, "app", annotations={"eks.amazonaws.com/role-arn": ROLE})
    return name


def test_pods_are_created_without_credentials_while_the_webhook_is_down_and_with_them_once_it_is_back(
    own_cluster: Cluster, own_webhooks: WebhookFactory, chart: Chart, namespace: str
) -> None:
    webhook = own_webhooks.start(name="down-and-back")
    configuration = registration_from_chart(
        chart, url=webhook.mutate_url, ca=own_webhooks.certificates.ca, name="down-and-back"
    )
    assert configuration["webhooks"][0]["failurePolicy"] == "Ignore"
    with own_webhooks.registered(configuration):
        assert (
            irsa_problems(own_cluster.create_pod(namespace, pod(service_account="app")), role_arn=ROLE) == []
        )

        assert webhook.stop() == 0
        assert untouched_problems(own_cluster.create_pod(namespace, pod(service_account="app"))) == []

        own_webhooks.start(name="down-and-back", port=webhook.server.port)
        assert (
            irsa_problems(own_cluster.create_pod(namespace, pod(service_account="app")), role_arn=ROLE) == []
        )


def test_no_pod_creation_fails_while_the_webhook_shuts_down(
    own_plane: ControlPlane, own_webhooks: WebhookFactory, chart: Chart, namespace: str
) -> None:
    webhook = own_webhooks.start(name="sigterm")
    configuration = registration_from_chart(
        chart, url=webhook.mutate_url, ca=own_webhooks.certificates.ca, name="sigterm"
    )
    stored: list[Json] = []
    failures: list[str] = []
    stop = threading.Event()

    def create_pods() -> None:
        with own_plane.admin_client() as client:
            creator = Cluster(client)
            while not stop.is_set():
                response = creator.request(
                    "POST", f"/api/v1/namespaces/{namespace}/pods", json=pod(service_account="app")
                )
                if response.status_code == 201:
                    stored.append(response.json())
                else:
                    failures.append(f"{response.status_code} {response.text}")

    with own_webhooks.registered(configuration):
        creator = threading.Thread(target=create_pods)
        creator.start()
        try:
            while len(stored) < 20:
                threading.Event().wait(0.05)
            exit_code = webhook.stop()
            created_while_running = len(stored)
            while len(stored) < created_while_running + 20:
                threading.Event().wait(0.05)
        finally:
            stop.set()
            creator.join()

    assert exit_code == 0
    assert failures == []
    assert all(env_of(each, "app").get("AWS_ROLE_ARN") == ROLE for each in stored[:20])
