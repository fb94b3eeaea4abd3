"""`--tls-mode self` with the real API server verifying it: the webhook makes its CA and certificate, writes the
CA into the MutatingWebhookConfiguration the chart renders in self mode, and the API server then trusts it.

Two instances run with the chart's names (`--tls-secret`, `--webhook-config-name`, `--service-name`) plus
`--tls-extra-dns-names localhost`, since out of cluster the API server dials https://localhost:PORT. The
registration has one webhook entry per instance, each with the chart's rules and `failurePolicy: Fail`
(a chart value), so a handshake the API server cannot verify fails the pod's creation instead of passing
unnoticed; a test label sends a pod to one instance or the other.
"""

from __future__ import annotations

import base64
import copy
import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.apiserver.cluster import ApiError, Cluster, Json, eventually, pod, until_pods_show
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import (
    MUTATING_CONFIGURATIONS,
    VALIDATING_CONFIGURATIONS,
    WEBHOOK_NAMESPACE,
    Webhook,
    WebhookFactory,
    registration_from_chart,
)
from tests.chart.rendering import Chart, Rendered
from tests.e2e.pod_assertions import irsa_problems
from tests.integration.server_process import free_ports
from webhook.tls.certs import KeyPair, in_renewal_window, issue_serving_certificate, load_certificate

ROLE = "arn:aws:iam::111122223333:role/self-managed"
REPLICA_LABEL = "test.example/replica"
SECOND = "second"
LOAD_THREADS = 2
PODS_AFTER_RENEWAL = 10
"""Creations that must succeed once every instance serves the renewed certificate."""
CHART_VALUES = {"webhook": {"failurePolicy": "Fail"}}


@dataclass
class SelfManagedSetup:
    rendered: Rendered
    registered: Json
    """The configuration as the API server stored it before any webhook ran."""
    first: Webhook
    second: Webhook

    @property
    def secret_path(self) -> str:
        return f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}/secrets/{self.rendered.flag('--tls-secret')}"

    @property
    def configuration_path(self) -> str:
        return f"{MUTATING_CONFIGURATIONS}/{self.rendered.flag('--webhook-config-name')}"

    @property
    def validating_configuration_path(self) -> str:
        return f"{VALIDATING_CONFIGURATIONS}/{self.rendered.flag('--webhook-config-name')}"

    @property
    def replicas(self) -> tuple[Webhook, Webhook]:
        return self.first, self.second


def self_mode_flags(rendered: Rendered) -> tuple[str, ...]:
    """The chart's self-mode names and its ServiceAccount warnings (whose configuration shares the CA), as its
    Deployment passes them, and the name a URL registration needs."""
    flags: list[str] = []
    for name in ("--tls-secret", "--webhook-config-name", "--service-name"):
        value = rendered.flag(name)
        assert value, f"the chart renders no {name} in self mode"
        flags += [name, value]
    assert rendered.flag("--serviceaccount-warnings") == "", "the chart's default turns the warnings on"
    return (
        *flags,
        "--serviceaccount-warnings",
        "--tls-extra-dns-names",
        "localhost",
        "--tls-check-interval",
        "1",
    )


def two_instance_registration(chart: Chart, *, ports: tuple[int, int]) -> Json:
    """The chart's configuration, caBundle left empty, with its webhook entry copied for a second instance;
    pods labelled `REPLICA_LABEL=second` go to the second, every other pod to the first."""
    configuration = registration_from_chart(
        chart, url=f"https://localhost:{ports[0]}/mutate", ca=None, values=CHART_VALUES
    )
    (first,) = configuration["webhooks"]
    second = copy.deepcopy(first)
    second["name"] = f"{SECOND}.{first['name']}"
    second["clientConfig"] = {"url": f"https://localhost:{ports[1]}/mutate"}
    first["objectSelector"]["matchExpressions"].append(
        {"key": REPLICA_LABEL, "operator": "NotIn", "values": [SECOND]}
    )
    second["objectSelector"]["matchExpressions"].append(
        {"key": REPLICA_LABEL, "operator": "In", "values": [SECOND]}
    )
    configuration["webhooks"].append(second)
    return configuration


@pytest.fixture(scope="module")
def setup(chart: Chart, own_webhooks: WebhookFactory, own_cluster: Cluster) -> SelfManagedSetup:
    rendered = chart.render(CHART_VALUES)
    assert rendered.flag("--tls-mode") == "self"
    first_port, second_port = free_ports(2)
    ports = (first_port, second_port)
    own_webhooks.register(two_instance_registration(chart, ports=ports))
    own_webhooks.register(
        registration_from_chart(
            chart,
            url=f"https://localhost:{first_port}/",
            ca=None,
            values=CHART_VALUES,
            kind="ValidatingWebhookConfiguration",
        )
    )
    registered = own_cluster.get(f"{MUTATING_CONFIGURATIONS}/{rendered.flag('--webhook-config-name')}")
    flags = self_mode_flags(rendered)
    first = own_webhooks.start(*flags, name="self-first", port=ports[0], self_managed_tls=True)
    second = own_webhooks.start(*flags, name="self-second", port=ports[1], self_managed_tls=True)
    return SelfManagedSetup(rendered=rendered, registered=registered, first=first, second=second)


@pytest.fixture(scope="module")
def namespace(own_cluster: Cluster, setup: SelfManagedSetup) -> str:
    name = own_cluster.namespace()
    own_cluster.service_account(name, "with-role", annotations={"eks.amazonaws.com/role-arn": ROLE})
    return name


def secret_data(cluster: Cluster, setup: SelfManagedSetup) -> dict[str, bytes]:
    secret = cluster.get(setup.secret_path)
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def published_bundles(cluster: Cluster, setup: SelfManagedSetup) -> list[bytes]:
    configuration = cluster.get(setup.configuration_path)
    return [base64.b64decode(hook["clientConfig"].get("caBundle", "")) for hook in configuration["webhooks"]]


def served_certificate(webhook: Webhook, *, ca_bundle: bytes) -> x509.Certificate:
    """The certificate a handshake gets, verified as the API server verifies it: against the caBundle only,
    for the URL's host name. An ssl.SSLCertVerificationError here is what the API server would see."""
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    with (
        socket.create_connection(("127.0.0.1", webhook.server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def mutated_count(webhook: Webhook) -> float:
    return webhook.metrics().get(
        ("pod_identity_webhook_requests_total", frozenset({("result", "mutated")})), 0.0
    )


def test_the_configuration_is_registered_from_the_chart_with_an_empty_ca_bundle(
    setup: SelfManagedSetup,
) -> None:
    assert [hook["clientConfig"].get("caBundle", "") for hook in setup.registered["webhooks"]] == ["", ""]


def test_the_webhook_creates_its_secret_and_writes_its_ca_into_the_configuration(
    own_cluster: Cluster, setup: SelfManagedSetup
) -> None:
    secret = own_cluster.get(setup.secret_path)
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt", "ca.key"}
    ca = secret_data(own_cluster, setup)["ca.crt"]

    def published() -> None:
        assert published_bundles(own_cluster, setup) == [ca, ca]

    eventually(published)


def test_the_ca_also_reaches_the_serviceaccount_warnings_and_the_api_server_trusts_it(
    own_cluster: Cluster, setup: SelfManagedSetup, namespace: str
) -> None:
    ca = secret_data(own_cluster, setup)["ca.crt"]

    def published() -> None:
        configuration = own_cluster.get(setup.validating_configuration_path)
        assert [
            base64.b64decode(hook["clientConfig"].get("caBundle", "")) for hook in configuration["webhooks"]
        ] == [ca]

    eventually(published)
    response = own_cluster.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        json={"metadata": {"name": "misspelt", "annotations": {"eks.amazon.com/role-arn": ROLE}}},
    )
    assert response.status_code == 201
    assert "did you mean eks.amazonaws.com/role-arn?" in response.headers.get("warning", "")


def test_pods_are_mutated_through_the_certificate_the_api_server_verified(
    own_cluster: Cluster, setup: SelfManagedSetup, namespace: str
) -> None:
    stored = until_pods_show(
        lambda: own_cluster.create_pod(namespace, pod(service_account="with-role")),
        expected=lambda stored: not irsa_problems(stored, role_arn=ROLE),
    )
    assert irsa_problems(stored, role_arn=ROLE) == []


def test_two_instances_share_one_ca_and_each_mutates_the_pods_sent_to_it(
    own_cluster: Cluster, setup: SelfManagedSetup, namespace: str
) -> None:
    (bundle, _) = published_bundles(own_cluster, setup)
    stored_certificate = load_certificate(secret_data(own_cluster, setup)["tls.crt"])
    assert [served_certificate(each, ca_bundle=bundle) for each in setup.replicas] == [stored_certificate] * 2

    before = [mutated_count(each) for each in setup.replicas]
    to_first = own_cluster.create_pod(namespace, pod(service_account="with-role"))
    to_second = own_cluster.create_pod(
        namespace, pod(service_account="with-role", labels={REPLICA_LABEL: SECOND})
    )
    assert irsa_problems(to_first, role_arn=ROLE) == []
    assert irsa_problems(to_second, role_arn=ROLE) == []
    assert [mutated_count(each) for each in setup.replicas] == [count + 1 for count in before]


@dataclass
class SteadyPodCreation:
    """Threads creating pods one after another, half of them for each instance, until stopped; every
    refused creation and every pod stored without credentials is kept for the test to show."""

    plane: ControlPlane
    namespace: str
    created: int = 0
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, index: int) -> None:
        labels = {REPLICA_LABEL: SECOND} if index % 2 else {}
        with self.plane.admin_client() as client:
            cluster = Cluster(client)
            while not self._stop.is_set():
                try:
                    stored = cluster.create_pod(
                        self.namespace, pod(service_account="with-role", labels=labels)
                    )
                    problems = irsa_problems(stored, role_arn=ROLE)
                except ApiError as error:
                    problems = [str(error)]
                with self._lock:
                    self.created += 1
                    self.failures += problems

    def at_least(self, count: int) -> None:
        with self._lock:
            assert self.created >= count, f"only {self.created} pods created so far"

    @property
    def count(self) -> int:
        with self._lock:
            return self.created

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def steady_creation(own_plane: ControlPlane, namespace: str) -> Iterator[SteadyPodCreation]:
    load = SteadyPodCreation(plane=own_plane, namespace=namespace)
    threads = [threading.Thread(target=load.run, args=(index,)) for index in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop()
        for thread in threads:
            thread.join(timeout=120)


def plant_certificate_near_expiry(cluster: Cluster, setup: SelfManagedSetup) -> bytes:
    """Replace the Secret's serving certificate with one from the same CA for the same names, issued 300
    days ago for 365: valid, but in its last third, so the next pass of either instance renews it."""
    data = secret_data(cluster, setup)
    current = load_certificate(data["tls.crt"])
    names = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    aged = issue_serving_certificate(
        ca=KeyPair(cert=data["ca.crt"], key=data["ca.key"]),
        dns_names=names.get_values_for_type(x509.DNSName),
        validity=datetime.timedelta(days=365),
        now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=300),
    )
    assert in_renewal_window(aged.cert, now=datetime.datetime.now(datetime.UTC))
    encoded = {
        key: base64.b64encode(value).decode()
        for key, value in (("tls.crt", aged.cert), ("tls.key", aged.key))
    }
    cluster.merge_patch(setup.secret_path, {"data": encoded})
    return aged.cert


def test_a_renewal_during_steady_pod_creation_fails_no_creation(
    own_cluster: Cluster, setup: SelfManagedSetup, steady_creation: SteadyPodCreation
) -> None:
    bundle_before = published_bundles(own_cluster, setup)
    served_before = load_certificate(secret_data(own_cluster, setup)["tls.crt"])
    eventually(lambda: steady_creation.at_least(5))

    planted = load_certificate(plant_certificate_near_expiry(own_cluster, setup))

    def every_instance_serves_the_renewal() -> x509.Certificate:
        renewed = load_certificate(secret_data(own_cluster, setup)["tls.crt"])
        assert renewed not in (served_before, planted)
        served = [served_certificate(each, ca_bundle=bundle_before[0]) for each in setup.replicas]
        assert served == [renewed, renewed]
        return renewed

    renewed = eventually(every_instance_serves_the_renewal)
    after_renewal = steady_creation.count
    eventually(lambda: steady_creation.at_least(after_renewal + PODS_AFTER_RENEWAL))
    steady_creation.stop()

    assert steady_creation.failures == []
    assert not in_renewal_window(
        renewed.public_bytes(serialization.Encoding.PEM), now=datetime.datetime.now(datetime.UTC)
    )
    assert published_bundles(own_cluster, setup) == bundle_before
