"""The webhook is not always there: stopped, it must not stop pod creation (the chart's `failurePolicy:
Ignore`), back, it mutates again; sent SIGTERM while pods are being created, it lets none fail and leaves
none without credentials, through one shutdown and through a rolling restart of twenty."""

from __future__ import annotations

import itertools
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.apiserver.cluster import Cluster, Json, env_of, pod
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import Webhook, WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.e2e.pod_assertions import irsa_problems, untouched_problems

ROLE = "arn:aws:iam::111122223333:role/available"
ROLLING_RESTARTS = 20
SHUTDOWN_DELAY = "1"
"""Long enough for the API server to see a configuration change (milliseconds here); short to keep the
twenty restarts quick. The chart's default is 5 s, for a Service's endpoints to catch up."""


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


@dataclass
class Creations:
    """Pods created one after another until the block ends, as a busy cluster creates them."""

    stored: list[Json] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def wait_for(self, count: int) -> None:
        target = len(self.stored) + count
        while len(self.stored) < target and not self.failures:
            threading.Event().wait(0.05)

    @property
    def unmutated(self) -> list[str]:
        return [
            each["metadata"]["name"]
            for each in self.stored
            if env_of(each, "app").get("AWS_ROLE_ARN") != ROLE
        ]


@contextmanager
def creating_pods(plane: ControlPlane, namespace: str) -> Iterator[Creations]:
    creations = Creations()
    stop = threading.Event()

    def create() -> None:
        with plane.admin_client() as client:
            creator = Cluster(client)
            while not stop.is_set():
                response = creator.request(
                    "POST", f"/api/v1/namespaces/{namespace}/pods", json=pod(service_account="app")
                )
                if response.status_code == 201:
                    creations.stored.append(response.json())
                else:
                    creations.failures.append(f"{response.status_code} {response.text}")

    thread = threading.Thread(target=create)
    thread.start()
    try:
        yield creations
    finally:
        stop.set()
        thread.join()


def test_pods_created_after_sigterm_are_still_mutated_during_the_shutdown_delay(
    own_plane: ControlPlane, own_webhooks: WebhookFactory, chart: Chart, namespace: str
) -> None:
    """A delay far longer than the test needs, so every pod sent after SIGTERM falls inside it; a second
    SIGTERM then ends it, and the process exits 0."""
    webhook = own_webhooks.start("--shutdown-delay", "120", name="sigterm")
    configuration = registration_from_chart(
        chart, url=webhook.mutate_url, ca=own_webhooks.certificates.ca, name="sigterm"
    )
    with own_webhooks.registered(configuration):
        with creating_pods(own_plane, namespace) as creations:
            creations.wait_for(10)
            webhook.server.process.send_signal(signal.SIGTERM)
            creations.wait_for(20)
        exit_code = webhook.server.terminate()

    assert exit_code == 0
    assert creations.failures == []
    assert creations.unmutated == []


def test_a_rolling_restart_of_twenty_replicas_loses_no_pod_and_leaves_none_without_credentials(
    own_plane: ControlPlane, own_webhooks: WebhookFactory, chart: Chart, namespace: str
) -> None:
    """Each round as a Deployment's rollout: the next replica is up, the current one gets SIGTERM and the
    registration moves to the next (as the Service's endpoints do) while pods keep being created. The replicas
    are started beforehand, a few at a time, and a round does not wait for the old one to exit: several may be
    draining at once, as in a rollout with surge."""

    def start(round_: int) -> Webhook:
        return own_webhooks.start("--shutdown-delay", SHUTDOWN_DELAY, name=f"rolling-{round_}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        replicas = list(pool.map(start, range(ROLLING_RESTARTS + 1)))
    configuration = registration_from_chart(
        chart, url=replicas[0].mutate_url, ca=own_webhooks.certificates.ca, name="rolling"
    )
    with own_webhooks.registered(configuration) as name, creating_pods(own_plane, namespace) as creations:
        creations.wait_for(5)
        for old, new in itertools.pairwise(replicas):
            old.server.process.send_signal(signal.SIGTERM)
            own_webhooks.point(name, new.mutate_url)
            creations.wait_for(5)
        exit_codes = [old.server.process.wait() for old in replicas[:-1]]
        creations.wait_for(5)

    assert exit_codes == [0] * ROLLING_RESTARTS
    assert creations.failures == []
    assert creations.unmutated == []
