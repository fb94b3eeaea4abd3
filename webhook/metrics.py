"""Prometheus metrics, served on their own plain-HTTP port (`--metrics-port`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_NAMESPACE = "pod_identity_webhook"

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

REQUESTS = Counter(
    "requests",
    "Admission requests answered, by result: mutated, unchanged, bad_request, failed_open.",
    ["result"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "request_duration_seconds",
    "Time to answer an admission request, by result.",
    ["result"],
    namespace=_NAMESPACE,
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PODS_MUTATED = Counter(
    "pods_mutated",
    "Pods that received a patch, by mode (irsa, pod-identity).",
    ["mode"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
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
CONFIG_RELOADS = Counter(
    "config_reloads",
    "Reloads of watched configuration, by source (tls, role-mappings, pod-identity-associations) and result.",
    ["source", "result"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
