"""The admission metrics as Prometheus reads them: cumulative buckets, count, sum, one series per label."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from webhook.metrics import LATENCY_BUCKETS, AdmissionMetrics


def scraped(counting: AdmissionMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(counting)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def bucket(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], le: str, result: str = "mutated"
) -> float:
    return samples[("pod_identity_webhook_request_duration_seconds_bucket", (("le", le), ("result", result)))]


def test_answers_are_counted_by_result() -> None:
    counting = AdmissionMetrics()
    for result in ("mutated", "mutated", "unchanged", "failed_open"):
        counting.answered(result, 0.0002)

    samples = scraped(counting)

    assert samples[("pod_identity_webhook_requests_total", (("result", "mutated"),))] == 2
    assert samples[("pod_identity_webhook_requests_total", (("result", "unchanged"),))] == 1
    assert samples[("pod_identity_webhook_requests_total", (("result", "bad_request"),))] == 0
    assert samples[("pod_identity_webhook_requests_total", (("result", "failed_open"),))] == 1


@pytest.mark.parametrize(
    ("seconds", "first_bucket"),
    [(0.00005, "0.0001"), (0.0001, "0.0001"), (0.00011, "0.00025"), (0.003, "0.005"), (9.0, "+Inf")],
)
def test_a_latency_counts_in_its_bucket_and_every_bucket_above(seconds: float, first_bucket: str) -> None:
    counting = AdmissionMetrics()
    counting.answered("mutated", seconds)

    samples = scraped(counting)

    bounds = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
    expected = [0.0] * bounds.index(first_bucket) + [1.0] * (len(bounds) - bounds.index(first_bucket))
    assert [bucket(samples, le) for le in bounds] == expected


def test_count_and_sum_agree_with_the_answers() -> None:
    counting = AdmissionMetrics()
    for seconds in (0.0002, 0.0004, 0.03):
        counting.answered("mutated", seconds)

    samples = scraped(counting)

    assert samples[("pod_identity_webhook_request_duration_seconds_count", (("result", "mutated"),))] == 3
    assert samples[
        ("pod_identity_webhook_request_duration_seconds_sum", (("result", "mutated"),))
    ] == pytest.approx(0.0306)
    assert bucket(samples, "+Inf") == 3


def test_mutated_pods_are_counted_by_mode() -> None:
    counting = AdmissionMetrics()
    counting.mutated("irsa")
    counting.mutated("pod-identity")
    counting.mutated("pod-identity")

    samples = scraped(counting)

    assert samples[("pod_identity_webhook_pods_mutated_total", (("mode", "irsa"),))] == 1
    assert samples[("pod_identity_webhook_pods_mutated_total", (("mode", "pod-identity"),))] == 2
