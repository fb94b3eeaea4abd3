"""The API calls the suite makes, as the cluster administrator: namespaces, ServiceAccounts, pods as stored.

Plain REST over the admin client certificate keeps what a test sends and what the API server stored in
view: a pod here is the JSON the API server answered, after every admission plugin and webhook ran.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

Json = dict[str, Any]
T = TypeVar("T")

EVENTUALLY_LIMIT_SECONDS = 60.0
"""A bound for what the webhook's watches deliver within a second on a quiet machine."""

_names = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A name no other test of the session uses, so tests share one control plane without colliding."""
    return f"{prefix}-{next(_names)}"


class ApiError(AssertionError):
    """The API server refused a call a test expected to succeed."""


@dataclass
class Cluster:
    client: httpx.Client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Json:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise ApiError(f"{method} {path}: {response.status_code} {response.text}")
        body: Json = response.json()
        return body

    def create(self, path: str, body: Mapping[str, Any], **params: str) -> Json:
        return self.call("POST", path, json=body, params=params)

    def get(self, path: str) -> Json:
        return self.call("GET", path)

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> Json:
        return self.call("PATCH", path, json=patch, headers={"Content-Type": "application/merge-patch+json"})

    def delete(self, path: str) -> None:
        response = self.request("DELETE", path)
        if response.status_code not in (200, 202, 404):
            raise ApiError(f"DELETE {path}: {response.status_code} {response.text}")

    def namespace(self, name: str | None = None, *, labels: Mapping[str, str] | None = None) -> str:
        """A new namespace labelled with its own name, as every API server from 1.21 labels it (1.20 does not,
        and the chart's namespaceSelector relies on that label)."""
        name = name or unique_name("ns")
        self.create(
            "/api/v1/namespaces",
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
                }
            },
        )
        return name

    def service_account(
        self, namespace: str, name: str, *, annotations: Mapping[str, str] | None = None
    ) -> Json:
        return self.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"metadata": {"name": name, "annotations": dict(annotations or {})}},
        )

    def annotate_service_account(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        """Set annotations; a None value removes one."""
        self.merge_patch(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
            {"metadata": {"annotations": annotations}},
        )

    def create_pod(self, namespace: str, pod: Mapping[str, Any], **params: str) -> Json:
        """The pod as the API server stored it (or, with dryRun, as it would have)."""
        return self.create(f"/api/v1/namespaces/{namespace}/pods", pod, **params)

    def config_map(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """Create the ConfigMap, or replace its data when it exists."""
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        response = self.request("POST", path, json={"metadata": {"name": name}, "data": dict(data)})
        if response.status_code == 409:
            self.merge_patch(f"{path}/{name}", {"data": dict(data)})
        elif response.status_code >= 300:
            raise ApiError(f"POST {path}: {response.status_code} {response.text}")

    def metrics(self) -> str:
        response = self.request("GET", "/metrics")
        response.raise_for_status()
        return response.text


def pod(
    name: str | None = None,
    *,
    service_account: str,
    containers: tuple[str, ...] = ("app",),
    init_containers: tuple[str, ...] = (),
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    spec: Mapping[str, Any] | None = None,
) -> Json:
    """A minimal pod a test can create: it stays Pending (there is no node), which admission does not mind."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name or unique_name("pod"),
            "annotations": dict(annotations or {}),
            "labels": dict(labels or {}),
        },
        "spec": {
            "serviceAccountName": service_account,
            "containers": [{"name": each, "image": "registry.example/app:1"} for each in containers],
            **(
                {
                    "initContainers": [
                        {"name": each, "image": "registry.example/init:1"} for each in init_containers
                    ]
                }
                if init_containers
                else {}
            ),
            **(spec or {}),
        },
    }


def env_of(stored: Mapping[str, Any], container: str) -> dict[str, str]:
    """The literal environment of one (init) container of a stored pod."""
    spec = stored["spec"]
    for each in (*spec.get("initContainers", ()), *spec["containers"]):
        if each["name"] == container:
            return {item["name"]: item.get("value", "") for item in each.get("env", ())}
    raise KeyError(container)


def eventually(
    check: Callable[[], T], *, limit: float = EVENTUALLY_LIMIT_SECONDS, interval: float = 0.2
) -> T:
    """Retry `check` until it returns without an AssertionError; after `limit` seconds raise its last one."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def until_pods_show(
    create: Callable[[], Json], *, expected: Callable[[Json], bool], limit: float = EVENTUALLY_LIMIT_SECONDS
) -> Json:
    """Create pods (each a fresh one) until one is stored as `expected` says: how a test waits for the
    webhook's cache to follow an API change without looking inside the webhook."""

    def attempt() -> Json:
        stored = create()
        assert expected(stored), f"pod stored as {stored['spec']}"
        return stored

    return eventually(attempt, limit=limit, interval=0.5)


def metric_samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                yield dict(sample.labels), sample.value
