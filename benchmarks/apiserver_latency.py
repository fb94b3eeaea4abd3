"""Admission latency as the API server sees it: pods created through a real kube-apiserver v1.20.2.

The other scenarios post reviews straight to the webhook, so they leave out what a cluster adds around it:
the API server encoding the review, dialling and verifying the webhook, decoding and applying its answer,
then validating and storing the pod. Here one control plane (tests/apiserver/control_plane.py) creates the
same pods, one after another, under three configurations in turn: our webhook (`serve --kubeconfig`, files
TLS, logging warnings only as in the other scenarios), the baseline's do-nothing webhook (`benchmarks.baseline --allow`, same uvicorn and TLS), and no webhook
at all. Both webhooks are registered by URL with the MutatingWebhookConfiguration our chart renders, so the
API server treats them alike; the difference between the configurations is what each webhook adds to a pod
creation, and the API server's own histogram says how long it waited for each.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.inputs import AWS_REGION
from benchmarks.processes import Readiness, ServerProcess
from benchmarks.summary import percentile
from tests.apiserver.cluster import Cluster, Json, metric_samples, pod
from tests.apiserver.control_plane import ControlPlane, start_control_plane
from tests.apiserver.webhook_process import WEBHOOK_NAMESPACE, WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.chart.tools import ensure
from tests.integration.server_process import Certificates, free_ports, generate_certificates

REPO = Path(__file__).resolve().parent.parent
WEBHOOK = "webhook"
BASELINE = "baseline"
NONE = "none"
CONFIGURATIONS = (NONE, BASELINE, WEBHOOK)
"""The order of the first round; the next round runs it backwards, so drift in the machine's load hits all."""
FULL_PODS = 200
"""Per configuration and round: 400 pods of each in all."""
FULL_ROUNDS = 2
SMOKE_PODS = 6
WARMUP_PODS = 10
"""Created and not counted after each switch: the webhook's connection and the API server's client warm up."""
SMOKE_WARMUP_PODS = 2
SWITCH_LIMIT_SECONDS = 30.0
"""A bound, not a measurement: the API server sees a (un)registration within a second."""

HISTOGRAM = "apiserver_admission_webhook_admission_duration_seconds"
NAMESPACE = "bench"
SERVICE_ACCOUNT = "app"
ROLE_ARN = "arn:aws:iam::111122223333:role/bench"
BASELINE_WEBHOOK_NAME = "baseline.benchmarks.invalid"
"""The baseline's entry in the chart's configuration gets a name of its own, so the API server's metrics
tell the two webhooks apart."""


@dataclass(frozen=True, slots=True)
class Histogram:
    """A Prometheus histogram as the API server exposes it: cumulative counts at each upper bound."""

    bounds: tuple[float, ...]
    """Finite upper bounds, ascending; the last count is the +Inf bucket's, the total."""
    counts: tuple[float, ...]

    @property
    def total(self) -> int:
        return round(self.counts[-1]) if self.counts else 0

    def __sub__(self, earlier: Histogram) -> Histogram:
        if not earlier.counts:
            return self
        return Histogram(self.bounds, tuple(a - b for a, b in zip(self.counts, earlier.counts, strict=True)))

    def __add__(self, other: Histogram) -> Histogram:
        if not other.counts:
            return self
        if not self.counts:
            return other
        return Histogram(self.bounds, tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    def first_bucket_share(self) -> float:
        """The share of calls within the first bound: what the coarse buckets say most plainly."""
        return self.counts[0] / self.counts[-1] if self.total else math.nan

    def quantile(self, fraction: float) -> float:
        """Seconds at `fraction`, interpolated linearly inside its bucket as PromQL's histogram_quantile does
        (from 0 in the first bucket; the highest finite bound when it falls in +Inf)."""
        if not self.total:
            return math.nan
        rank = fraction * self.counts[-1]
        lower, below = 0.0, 0.0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            if count >= rank:
                return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
            lower, below = bound, count
        return self.bounds[-1]


EMPTY = Histogram((), ())


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionLatency:
    pods: int
    """Pods created and measured under each configuration."""
    rounds: int
    warmup: int
    """Pods created and not counted after each switch."""
    creation_seconds: dict[str, list[float]]
    """Per configuration, the client's time for each pod creation, sorted."""
    webhook_seconds: dict[str, Histogram]
    """Per configuration with a webhook, the API server's histogram of its calls while the pods were made."""
    mutated: dict[str, int]
    """Per configuration, the measured pods stored with our credentials (all of them for ours, none else)."""

    @property
    def bounds(self) -> tuple[float, ...]:
        """The API server's bucket bounds, the same for every webhook."""
        return next((each.bounds for each in self.webhook_seconds.values() if each.bounds), ())

    def creation(self, configuration: str, fraction: float) -> float:
        return percentile(self.creation_seconds[configuration], fraction)

    def added(self, configuration: str, fraction: float) -> float:
        """What a webhook adds to a pod creation at `fraction`, over the same run with no webhook."""
        return self.creation(configuration, fraction) - self.creation(NONE, fraction)


def measure(*, smoke: bool) -> AdmissionLatency:
    pods, rounds, warmup = (
        (SMOKE_PODS, 1, SMOKE_WARMUP_PODS) if smoke else (FULL_PODS, FULL_ROUNDS, WARMUP_PODS)
    )
    with tempfile.TemporaryDirectory(prefix="pod-identity-webhook-apiserver-") as name, _all_cpus():
        directory = Path(name)
        plane = start_control_plane(
            kube_apiserver=ensure(REPO, "ensure-kube-apiserver"),
            etcd=ensure(REPO, "ensure-etcd"),
            directory=directory / "plane",
        )
        try:
            return _measure(plane, directory=directory, pods=pods, rounds=rounds, warmup=warmup)
        finally:
            plane.stop()


def _measure(
    plane: ControlPlane, *, directory: Path, pods: int, rounds: int, warmup: int
) -> AdmissionLatency:
    executable = [sys.executable, "-m", "webhook"]
    certificates = generate_certificates(executable=executable, directory=directory / "tls", cwd=REPO)
    chart = Chart(helm=ensure(REPO, "ensure-helm"), path=REPO / "charts" / "pod-identity-webhook")
    (directory / "logs").mkdir()
    factory = WebhookFactory(
        plane=plane,
        executable=executable,
        cwd=REPO,
        certificates=certificates,
        chart=chart,
        directory=directory / "logs",
        log_files={},
    )
    with plane.admin_client() as client:
        cluster = Cluster(client)
        cluster.namespace(WEBHOOK_NAMESPACE)
        cluster.namespace(NAMESPACE)
        cluster.service_account(
            NAMESPACE, SERVICE_ACCOUNT, annotations={"eks.amazonaws.com/role-arn": ROLE_ARN}
        )
        with contextlib.ExitStack() as running:
            running.callback(factory.stop_all)
            ours = factory.start("--aws-default-region", AWS_REGION, "--log-level", "warning", name=WEBHOOK)
            baseline = _start_baseline(certificates, log=directory / "logs" / "baseline.log")
            running.callback(baseline.process.stop)
            registrations = {
                WEBHOOK: registration_from_chart(
                    chart, url=_url(ours.server.port), ca=certificates.ca, name="bench-webhook"
                ),
                BASELINE: _renamed(
                    registration_from_chart(
                        chart, url=_url(baseline.port), ca=certificates.ca, name="bench-baseline"
                    ),
                    BASELINE_WEBHOOK_NAME,
                ),
            }
            webhook_names = {WEBHOOK: registrations[WEBHOOK]["webhooks"][0]["name"]}
            webhook_names[BASELINE] = BASELINE_WEBHOOK_NAME
            run = _Run(cluster, factory=factory, webhook_names=webhook_names, registrations=registrations)
            for number in range(rounds):
                for configuration in CONFIGURATIONS if number % 2 == 0 else CONFIGURATIONS[::-1]:
                    run.phase(configuration, pods=pods, warmup=warmup)
    return run.result(pods=pods * rounds, rounds=rounds, warmup=warmup)


@dataclass
class _Baseline:
    process: ServerProcess
    port: int


def _start_baseline(certificates: Certificates, *, log: Path) -> _Baseline:
    (port,) = free_ports(1)
    command = [
        sys.executable, "-m", "benchmarks.baseline", "--allow",
        "--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key),
        "--port", str(port), "--bind-address", "127.0.0.1",
    ]  # fmt: skip
    readiness = Readiness(host="127.0.0.1", port=port, ca_file=certificates.ca)
    return _Baseline(ServerProcess.start(command, cpu=None, readiness=readiness, log=log), port)


def _url(port: int) -> str:
    """Both webhooks by address, so neither pays for a name lookup the other does not."""
    return f"https://127.0.0.1:{port}/mutate"


def _renamed(configuration: Json, name: str) -> Json:
    (entry,) = configuration["webhooks"]
    entry["name"] = name
    return configuration


class _Run:
    """Switches the control plane between configurations and creates each configuration's pods."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        factory: WebhookFactory,
        webhook_names: dict[str, str],
        registrations: dict[str, Json],
    ) -> None:
        self._cluster = cluster
        self._factory = factory
        self._webhook_names = webhook_names
        self._registrations = registrations
        self._registered: str | None = None
        self._numbers: dict[str, Iterator[int]] = {}
        self._creation: dict[str, list[float]] = {each: [] for each in CONFIGURATIONS}
        self._histograms: dict[str, Histogram] = dict.fromkeys(webhook_names, EMPTY)
        self._mutated: dict[str, int] = dict.fromkeys(CONFIGURATIONS, 0)

    def phase(self, configuration: str, *, pods: int, warmup: int) -> None:
        self._switch(configuration)
        for _ in range(warmup):
            self._create(f"{configuration}-warmup")
        before = self._histogram(configuration)
        for _ in range(pods):
            started = time.perf_counter()
            stored = self._create(configuration)
            self._creation[configuration].append(time.perf_counter() - started)
            self._mutated[configuration] += _has_credentials(stored)
        if configuration in self._histograms:
            self._histograms[configuration] += self._histogram(configuration) - before

    def result(self, *, pods: int, rounds: int, warmup: int) -> AdmissionLatency:
        if self._mutated[WEBHOOK] != pods or self._mutated[BASELINE] or self._mutated[NONE]:
            raise RuntimeError(f"pods stored with credentials, of {pods} each: {self._mutated}")
        return AdmissionLatency(
            pods=pods,
            rounds=rounds,
            warmup=warmup,
            creation_seconds={name: sorted(times) for name, times in self._creation.items()},
            webhook_seconds=self._histograms,
            mutated=self._mutated,
        )

    def _switch(self, configuration: str) -> None:
        """Register the configuration's webhook alone, then create pods until the API server uses it: its
        configuration informer applies a change a moment after the write."""
        if self._registered is not None:
            self._factory.unregister(self._registered)
            self._registered = None
        if configuration in self._registrations:
            self._registered = self._factory.register(self._registrations[configuration])
        deadline = time.monotonic() + SWITCH_LIMIT_SECONDS
        while True:
            before = self._calls()
            self._create(f"{configuration}-switch")
            called = {name for name, count in self._calls().items() if count > before.get(name, 0)}
            if called == (
                {self._webhook_names[configuration]} if configuration in self._registrations else set()
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the API server still called {called or 'no webhook'} for {configuration}"
                )
            time.sleep(0.1)

    def _create(self, prefix: str) -> Json:
        name = f"{prefix}-{next(self._numbers.setdefault(prefix, itertools.count(1)))}"
        body = json.dumps(pod(name, service_account=SERVICE_ACCOUNT)).encode()
        response = self._cluster.request(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating pod {name}: {response.status_code} {response.text}")
        stored: Json = response.json()
        return stored

    def _calls(self) -> dict[str, float]:
        """Calls of each webhook so far, from the API server's histogram counts."""
        return {
            labels["name"]: count
            for labels, count in metric_samples(self._metrics(), f"{HISTOGRAM}_count")
            if labels.get("type") == "admit"
        }

    def _metrics(self) -> str:
        """The admission histogram's lines alone: parsing all of the API server's metrics takes half a second
        on a busy machine, and the switches scrape often."""
        lines = self._cluster.metrics().splitlines()
        return "\n".join(line for line in lines if HISTOGRAM in line) + "\n"

    def _histogram(self, configuration: str) -> Histogram:
        webhook = self._webhook_names.get(configuration)
        buckets = sorted(
            (float(labels["le"]), count)
            for labels, count in metric_samples(self._metrics(), f"{HISTOGRAM}_bucket")
            if labels.get("type") == "admit" and labels.get("name") == webhook
        )
        if not buckets:
            return EMPTY
        return Histogram(
            bounds=tuple(bound for bound, _ in buckets if math.isfinite(bound)),
            counts=tuple(count for _, count in buckets),
        )


def _has_credentials(stored: Json) -> bool:
    return any(
        variable.get("name") == "AWS_ROLE_ARN"
        for container in stored["spec"]["containers"]
        for variable in container.get("env", ())
    )


@contextlib.contextmanager
def _all_cpus() -> Iterator[None]:
    """The rest of the benchmark pins itself to the load generator's CPU, and children inherit it: here the API
    server, etcd and the webhooks share every CPU as they would on a control-plane node."""
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        yield
    finally:
        os.sched_setaffinity(0, pinned)
