"""Prometheus metrics, served on their own plain-HTTP port (`--metrics-port`)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from webhook.engine.identity import Mode

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_NAMESPACE = "pod_identity_webhook"

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

RESULTS = ("mutated", "unchanged", "bad_request", "failed_open")
MODES = tuple(mode.value for mode in Mode)


class AdmissionMetrics(Collector):
    """Requests, their latency and the pods mutated, counted as plain integers and exported at scrape time.

    prometheus_client's Counter and Histogram take a lock on every update; on the admission path that cost
    more than the counting itself (benchmarks/hot_path.md). Only the event loop's thread counts here, and a
    scrape copies what it reads, so no lock is needed.
    """

    def __init__(self) -> None:
        self._latencies = {result: [0] * (len(LATENCY_BUCKETS) + 1) for result in RESULTS}
        """Per result, how many answers fell in each bucket (not cumulative); the last one is +Inf."""
        self._seconds = dict.fromkeys(RESULTS, 0.0)
        self._mutated = dict.fromkeys(MODES, 0)

    def answered(self, result: str, seconds: float) -> None:
        self._latencies[result][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._seconds[result] += seconds

    def mutated(self, mode: str) -> None:
        self._mutated[mode] += 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{_NAMESPACE}_requests",
            "Admission requests answered, by result: mutated, unchanged, bad_request, failed_open.",
            labels=["result"],
        )
        durations = HistogramMetricFamily(
            f"{_NAMESPACE}_request_duration_seconds",
            "Time to answer an admission request, by result.",
            labels=["result"],
        )
        bounds = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
        for result in RESULTS:
            cumulative = list(itertools.accumulate(list(self._latencies[result])))
            requests.add_metric([result], cumulative[-1])
            durations.add_metric(
                [result], buckets=list(zip(bounds, cumulative, strict=True)), sum_value=self._seconds[result]
            )
        mutated = CounterMetricFamily(
            f"{_NAMESPACE}_pods_mutated",
            "Pods that received a patch, by mode (irsa, pod-identity).",
            labels=["mode"],
        )
        for mode, count in self._mutated.items():
            mutated.add_metric([mode], count)
        yield from (requests, durations, mutated)


ADMISSION = AdmissionMetrics()
REGISTRY.register(ADMISSION)
CACHE_SIZE = Gauge(
    "serviceaccount_cache_size",
    "ServiceAccounts held in the watch-fed cache.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
CACHE_MISSES = Counter(
    "serviceaccount_cache_misses",
    "Lookups of a ServiceAccount the cache did not hold.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
API_FALLBACKS = Counter(
    "serviceaccount_api_fallbacks",
    "Direct API reads after a cache miss, by result: found, not_found, error.",
    ["result"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
CERTIFICATE_EXPIRY = Gauge(
    "certificate_expiry_timestamp_seconds",
    "When the serving certificate in use expires (Unix time).",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
CA_EXPIRY = Gauge(
    "ca_expiry_timestamp_seconds",
    "When the CA of the caBundle expires (Unix time); --tls-mode self only, where the webhook keeps the CA.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
CACHE_SYNCED = Gauge(
    "serviceaccount_cache_synced",
    "1 once the ServiceAccounts have been read in full (the first list, or the file), else 0.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
WATCH_FAILURES = Counter(
    "watch_failures",
    "Lists and watches of a cluster collection that failed and are being retried, by watch.",
    ["watch"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
READY = Gauge(
    "ready",
    "1 while this replica is ready to admit pods (what /readyz answers), else 0.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
CONFIG_RELOADS = Counter(
    "config_reloads",
    "Reloads of watched configuration, by source (tls, role-mappings, pod-identity-associations) and result.",
    ["source", "result"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
SERVICEACCOUNT_REVIEWS = Counter(
    "serviceaccount_reviews",
    "ServiceAccount writes reviewed (--serviceaccount-warnings), by result: warned, clean, bad_request.",
    ["result"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
MISSED_CREDENTIALS = Gauge(
    "pods_missing_credentials",
    "Running pods whose ServiceAccount has an AWS identity but whose containers lack its credentials, "
    "as of the last scan (--find-missed-credentials).",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
REPAIR_EVICTIONS = Counter(
    "repair_evictions",
    "Evictions of controller-owned pods that missed their credentials (--repair-missed-credentials), by "
    "result: evicted, blocked (a PodDisruptionBudget said not now), gone, error.",
    ["result"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
