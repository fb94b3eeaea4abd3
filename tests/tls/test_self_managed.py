"""`--tls-mode self` against the in-test API server: the shared Secret, the caBundle, rotation, replicas."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from kubernetes.client import ApiClient

from tests.fake_apiserver import FakeApiServer
from tests.tls.tls_support import NAMESPACE, stored_configuration, webhook_configuration
from webhook import metrics
from webhook.cli.tls_options import add_tls_options
from webhook.errors import CertificateError
from webhook.tls.certificate_rotation import RotationPolicy, next_state
from webhook.tls.certs import covers_dns_names, is_issued_by, not_after, utc_now
from webhook.tls.self_managed import (
    SelfManagedSettings,
    SelfManagedTLS,
    secret_data_from_state,
    service_dns_names,
    state_from_secret_data,
)
from webhook.tls.serving import ServingTLS
from webhook.tls.startup import self_managed_settings_from, start_tls

NAMES = service_dns_names(service="pod-identity-webhook", namespace=NAMESPACE, cluster_domain="cluster.local")
SECRET_PATH = f"/api/v1/namespaces/{NAMESPACE}/secrets/pod-identity-webhook"
CONFIG_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/pod-identity-webhook"
DAY = timedelta(days=1)
POLICY = RotationPolicy(
    ca_validity=90 * DAY, cert_validity=30 * DAY, propagation_delay=timedelta(hours=1), ca_overlap=2 * DAY
)


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class Replica:
    """One webhook pod's self-managed TLS, driven pass by pass."""

    def __init__(self, cluster: ApiClient, clock: Clock, *, validating_config_name: str = "") -> None:
        self.serving = ServingTLS()
        settings = SelfManagedSettings(
            namespace=NAMESPACE,
            dns_names=NAMES,
            secret_name="pod-identity-webhook",
            webhook_config_name="pod-identity-webhook",
            check_interval=30.0,
            policy=POLICY,
            validating_webhook_config_name=validating_config_name,
        )
        self.manager = SelfManagedTLS(
            api_client=cluster, serving=self.serving, settings=settings, clock=clock
        )

    def reconcile(self) -> None:
        self.manager.reconcile()

    @property
    def certificate(self) -> bytes:
        assert self.serving.certificate is not None
        return self.serving.certificate


def published_bundles(fake_apiserver: FakeApiServer) -> list[list[x509.Certificate]]:
    """The CAs each webhook of the configuration trusts."""
    configuration = stored_configuration(fake_apiserver)
    return [
        x509.load_pem_x509_certificates(base64.b64decode(hook["clientConfig"]["caBundle"]))
        for hook in configuration["webhooks"]
    ]


def stored_secret(fake_apiserver: FakeApiServer) -> dict[str, Any]:
    secret = fake_apiserver.get("v1", "Secret", "pod-identity-webhook", NAMESPACE)
    assert secret is not None
    return secret


def decoded(secret: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(secret["data"][key])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def with_configuration(fake_apiserver: FakeApiServer) -> FakeApiServer:
    fake_apiserver.apply(webhook_configuration())
    return fake_apiserver


@pytest.fixture
def replica(cluster: ApiClient, clock: Clock) -> Callable[[], Replica]:
    return lambda: Replica(cluster, clock)


def test_first_start_stores_a_tls_secret_and_serves_its_certificate(
    with_configuration: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    first = replica()
    first.reconcile()
    secret = stored_secret(with_configuration)
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt", "ca.key"}
    assert first.serving.loaded
    assert first.certificate == decoded(secret, "tls.crt")
    assert covers_dns_names(first.certificate, NAMES)
    assert is_issued_by(first.certificate, decoded(secret, "ca.crt"))


def test_ca_bundle_goes_into_every_webhook_and_fields_the_client_does_not_know_survive(
    with_configuration: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    replica().reconcile()
    ca = x509.load_pem_x509_certificate(decoded(stored_secret(with_configuration), "ca.crt"))
    assert published_bundles(with_configuration) == [[ca], [ca]]
    configuration = stored_configuration(with_configuration)
    assert all(hook["futureField"] == {"kept": True} for hook in configuration["webhooks"])
    assert configuration["metadata"]["labels"] == {"app": "pod-identity-webhook"}


@pytest.mark.parametrize(
    ("warnings", "written"), [(True, True), (False, False)], ids=["warnings-on", "warnings-off"]
)
def test_the_serviceaccount_warnings_configuration_gets_the_ca_bundle_only_when_they_are_on(
    with_configuration: FakeApiServer, cluster: ApiClient, clock: Clock, warnings: bool, written: bool
) -> None:
    validating = {**webhook_configuration(), "kind": "ValidatingWebhookConfiguration"}
    with_configuration.apply(validating)

    Replica(cluster, clock, validating_config_name="pod-identity-webhook" if warnings else "").reconcile()

    stored = with_configuration.get(
        "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "pod-identity-webhook"
    )
    assert stored is not None
    bundles = [hook["clientConfig"].get("caBundle") for hook in stored["webhooks"]]
    mutating = [
        hook["clientConfig"]["caBundle"] for hook in stored_configuration(with_configuration)["webhooks"]
    ]
    assert bundles == (mutating if written else [None, None])


def test_nothing_is_rewritten_when_nothing_changed(
    with_configuration: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    first = replica()
    first.reconcile()
    writes = with_configuration.count("update") + with_configuration.count("create")
    for _ in range(3):
        first.reconcile()
    assert with_configuration.count("update") + with_configuration.count("create") == writes


def test_a_ca_bundle_reset_by_helm_or_gitops_is_put_back(
    with_configuration: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    first = replica()
    first.reconcile()
    expected = published_bundles(with_configuration)
    with_configuration.apply(webhook_configuration(caBundle=""))

    first.reconcile()

    assert published_bundles(with_configuration) == expected


def test_two_replicas_starting_together_share_one_secret(
    with_configuration: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    replicas = [replica(), replica()]
    reconcile_together(
        replicas, with_configuration, verb="create", path=f"/api/v1/namespaces/{NAMESPACE}/secrets"
    )

    winner = decoded(stored_secret(with_configuration), "tls.crt")
    assert [each.certificate for each in replicas] == [winner, winner]


def test_concurrent_renewals_end_with_every_replica_on_the_winners_certificate(
    with_configuration: FakeApiServer, replica: Callable[[], Replica], clock: Clock
) -> None:
    replicas = [replica(), replica()]
    for each in replicas:
        each.reconcile()
    clock.advance(21 * DAY)
    reconcile_together(replicas, with_configuration, verb="update", path=SECRET_PATH)

    winner = decoded(stored_secret(with_configuration), "tls.crt")
    assert [each.certificate for each in replicas] == [winner, winner]
    assert with_configuration.count("update", SECRET_PATH) == 2


def test_a_valid_secret_is_adopted_as_it_is(
    with_configuration: FakeApiServer, replica: Callable[[], Replica], clock: Clock
) -> None:
    state = next_state(None, dns_names=NAMES, now=clock(), policy=POLICY)
    with_configuration.apply(secret_object(secret_data_from_state(state)))

    first = replica()
    first.reconcile()

    assert first.certificate == state.current.cert
    assert with_configuration.count("update", SECRET_PATH) == 0


def test_an_unusable_secret_is_replaced_and_its_other_keys_kept(
    with_configuration: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    garbage = base64.b64encode(b"garbage").decode()
    with_configuration.apply(
        secret_object({"tls.crt": garbage, "tls.key": garbage, "operator-note": garbage})
    )

    first = replica()
    first.reconcile()

    secret = stored_secret(with_configuration)
    assert state_from_secret_data(secret["data"]) is not None
    assert secret["data"]["operator-note"] == garbage
    assert first.certificate == decoded(secret, "tls.crt")


def test_ca_rotation_keeps_the_previous_ca_trusted_and_every_replica_follows(
    with_configuration: FakeApiServer, replica: Callable[[], Replica], clock: Clock
) -> None:
    first, second = replica(), replica()
    first.reconcile()
    old_ca = decoded(stored_secret(with_configuration), "ca.crt")
    for _renewal in range(2):
        clock.advance(21 * DAY)
        first.reconcile()
    second.reconcile()
    old_certificate = first.certificate

    clock.advance(19 * DAY)  # day 61: the 90-day CA is in its last third, the certificate is not
    first.reconcile()
    new_ca = decoded(stored_secret(with_configuration), "ca.crt")
    assert new_ca != old_ca
    assert decoded(stored_secret(with_configuration), "ca-previous.crt") == old_ca
    assert published_bundles(with_configuration) == [certificates(new_ca, old_ca)] * 2
    assert first.certificate == second.certificate == old_certificate

    clock.advance(timedelta(hours=1))
    second.reconcile()
    first.reconcile()
    assert is_issued_by(second.certificate, new_ca)
    assert first.certificate == second.certificate
    assert published_bundles(with_configuration) == [certificates(new_ca, old_ca)] * 2

    clock.advance(2 * DAY)
    second.reconcile()
    assert published_bundles(with_configuration) == [certificates(new_ca)] * 2
    assert "ca-previous.crt" not in stored_secret(with_configuration)["data"]


def ca_expiry_metric() -> float | None:
    return metrics.REGISTRY.get_sample_value("pod_identity_webhook_ca_expiry_timestamp_seconds")


def test_the_ca_expiry_metric_is_the_current_cas_and_follows_a_rotation(
    with_configuration: FakeApiServer, replica: Callable[[], Replica], clock: Clock
) -> None:
    first = replica()
    first.reconcile()
    old_ca = decoded(stored_secret(with_configuration), "ca.crt")
    assert ca_expiry_metric() == not_after(old_ca).timestamp()

    for days in (21, 21, 19):  # day 61: the 90-day CA is in its last third, so a new CA becomes current
        clock.advance(days * DAY)
        first.reconcile()

    new_ca = decoded(stored_secret(with_configuration), "ca.crt")
    assert new_ca != old_ca
    assert ca_expiry_metric() == not_after(new_ca).timestamp()


def test_certificate_is_served_even_before_the_webhook_configuration_exists(
    fake_apiserver: FakeApiServer, replica: Callable[[], Replica]
) -> None:
    first = replica()
    first.reconcile()
    assert first.serving.loaded

    fake_apiserver.apply(webhook_configuration())
    first.reconcile()
    assert (
        published_bundles(fake_apiserver)
        == [certificates(decoded(stored_secret(fake_apiserver), "ca.crt"))] * 2
    )


def test_self_mode_is_not_ready_until_the_api_answers_and_then_serves(
    with_configuration: FakeApiServer, cluster: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    parser = argparse.ArgumentParser()
    add_tls_options(parser)
    arguments = parser.parse_args(["--tls-mode", "self", "--tls-check-interval", "0.2"])
    with_configuration.fail_next("get", 403)
    errors_before = reload_errors()

    async def scenario() -> None:
        runtime = await start_tls(arguments, namespace=NAMESPACE, api_client=cluster)
        assert not runtime.loaded
        deadline = time.monotonic() + 30
        while not runtime.loaded:
            assert time.monotonic() < deadline, "no certificate was loaded within 30 s"
            await asyncio.sleep(0.05)
        await runtime.stop()

    with caplog.at_level(logging.WARNING, logger="webhook.self_managed_tls"):
        asyncio.run(scenario())

    assert "the API server answered 403: injected 403" in caplog.text
    assert reload_errors() == errors_before + 1
    assert covers_dns_names(decoded(stored_secret(with_configuration), "tls.crt"), NAMES)


def secret_object(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pod-identity-webhook", "namespace": NAMESPACE},
        "type": "Opaque",
        "data": data,
    }


def certificates(*pems: bytes) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(pem) for pem in pems]


def reload_errors() -> float:
    value = metrics.REGISTRY.get_sample_value(
        "pod_identity_webhook_config_reloads_total", {"source": "tls", "result": "error"}
    )
    return value or 0.0


def reconcile_together(
    replicas: list[Replica], fake_apiserver: FakeApiServer, *, verb: str, path: str
) -> None:
    """Run a pass of every replica at once, holding their writes (`verb` on `path`) until all have been
    sent, so every replica writes based on the same read and all but one must lose."""
    with fake_apiserver.hold(verb):
        threads = [threading.Thread(target=each.reconcile) for each in replicas]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while fake_apiserver.count(verb, path) < len(replicas):
            assert time.monotonic() < deadline, f"not every replica sent its {verb} within 30 s"
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=30)


def self_mode_settings(*arguments: str) -> SelfManagedSettings:
    parser = argparse.ArgumentParser()
    add_tls_options(parser)
    return self_managed_settings_from(
        parser.parse_args(["--tls-mode", "self", *arguments]), namespace=NAMESPACE
    )


def test_a_cluster_domain_written_as_an_fqdn_gives_the_same_names() -> None:
    assert self_mode_settings("--cluster-domain", "cluster.local.").dns_names == NAMES


@pytest.mark.parametrize("domain", ["cluster local", "cluster..local", "-cluster.local"])
def test_a_cluster_domain_no_certificate_can_hold_stops_the_start(domain: str) -> None:
    with pytest.raises(CertificateError, match="not a DNS name"):
        self_mode_settings(f"--cluster-domain={domain}")
