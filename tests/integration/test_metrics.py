"""SPEC §4: Prometheus metrics on the separate plain-HTTP port, counting what the server actually did."""

from __future__ import annotations

import httpx
import pytest
from cryptography import x509

from tests.engine.support import pod
from tests.integration.conftest import SERVICE_ACCOUNT_COUNT
from tests.integration.server_process import METRIC_PREFIX, RunningServer, scrape, value
from tests.server.reviews import admission_review, from_replicaset


def test_requests_latency_and_mutations_are_counted_by_result(
    server: RunningServer, client: httpx.Client
) -> None:
    before = scrape(server)

    for _ in range(3):
        client.post("/mutate", json=admission_review(from_replicaset(pod())))
    client.post("/mutate", json=admission_review(from_replicaset(pod(service_account="default"))))
    client.post("/mutate", content=b"not json", headers={"content-type": "application/json"})
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("requests_total", result="mutated") == 3
    assert delta("requests_total", result="unchanged") == 1
    assert delta("requests_total", result="bad_request") == 1
    assert delta("pods_mutated_total", mode="irsa") == 3
    assert delta("request_duration_seconds_count", result="mutated") == 3
    assert delta("request_duration_seconds_bucket", result="mutated", le="+Inf") == 3


def test_latency_histogram_has_sub_millisecond_buckets(server: RunningServer, client: httpx.Client) -> None:
    client.post("/mutate", json=admission_review(from_replicaset(pod())))

    samples = scrape(server)

    bounds = {
        float(dict(labels)["le"])
        for name, labels in samples
        if name == METRIC_PREFIX + "request_duration_seconds_bucket"
        and dict(labels).get("result") == "mutated"
    }
    assert any(bound < 0.001 for bound in bounds)


def test_cache_size_counts_the_serviceaccounts_served(server: RunningServer) -> None:
    assert value(scrape(server), "serviceaccount_cache_size") == SERVICE_ACCOUNT_COUNT


def test_certificate_expiry_is_the_served_certificate_not_after(server: RunningServer) -> None:
    assert server.certificates is not None
    certificate = x509.load_pem_x509_certificate(server.certificates.cert.read_bytes())

    exposed = value(scrape(server), "certificate_expiry_timestamp_seconds")

    assert exposed == certificate.not_valid_after_utc.timestamp()


@pytest.mark.parametrize(
    "metric", ["ready", "serviceaccount_cache_synced"], ids=["ready", "serviceaccount cache synced"]
)
def test_a_ready_server_with_its_serviceaccounts_read_says_so(server: RunningServer, metric: str) -> None:
    assert value(scrape(server), metric) == 1
