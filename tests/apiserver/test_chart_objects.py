"""The chart's objects pass the real API server's validation, not only a schema of it.

Every object `helm template` renders for each scenario is sent as a server-side dry run (`dryRun=All`):
the API server defaults, validates and admits it exactly as `helm install` would have it, and stores
nothing. An object that already exists is sent as a dry-run patch from the rendering it was installed
from to the new one, as `helm upgrade` changes it, so the API server's update rules (immutable fields)
hold too. Not a whole-object replace (PUT): nobody upgrades the chart that way, and 1.20 refuses a Service
replaced without the clusterIP it assigned. The kinds a bare v1.20 API server does not serve are named
below with the reason, and the test insists that exactly those were left out.
The module runs on a control plane of its own, so nothing it creates is seen by other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.apiserver.cluster import ApiError, Cluster, Json
from tests.chart.rendering import NAMESPACE, Chart
from tests.chart.scenarios import ALL

GroupVersionKind = tuple[str, str]
"""(apiVersion, kind), as an object names its type."""

UNSERVED: dict[GroupVersionKind, str] = {
    ("cert-manager.io/v1", "Certificate"): "cert-manager's CRD: no cert-manager is installed",
    ("cert-manager.io/v1", "Issuer"): "cert-manager's CRD: no cert-manager is installed",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "the Prometheus Operator's CRD: no operator is installed",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "the Prometheus Operator's CRD: no operator is installed",
    ("policy/v1", "PodDisruptionBudget"): "policy/v1 is served from Kubernetes 1.21; 1.20 has only v1beta1",
}
"""Kinds the chart renders that the test's v1.20.2 API server does not serve, and why."""
DRY_RUN = {"dryRun": "All"}
INSTALLED_SCENARIO = "self"
"""The chart's defaults, installed for real before an upgrade to each other scenario is tried."""


@dataclass(frozen=True)
class Resource:
    plural: str
    namespaced: bool


@dataclass
class Outcome:
    """What the API server made of one rendering."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: set[GroupVersionKind] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)


def api_root(api_version: str) -> str:
    """Where a group/version is served: the core group ("v1") under /api, every other under /apis."""
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


def served_resources(cluster: Cluster, api_versions: set[str]) -> dict[GroupVersionKind, Resource]:
    """The API server's own discovery documents for these group/versions; a group/version it does not
    serve (404) contributes nothing."""
    served: dict[GroupVersionKind, Resource] = {}
    for api_version in sorted(api_versions):
        response = cluster.request("GET", api_root(api_version))
        if response.status_code == 404:
            continue
        if response.status_code != 200:
            raise ApiError(f"discovery of {api_version}: {response.status_code} {response.text}")
        for resource in response.json()["resources"]:
            if "/" not in resource["name"]:  # subresources (pods/status) are not kinds of their own
                served[(api_version, resource["kind"])] = Resource(resource["name"], resource["namespaced"])
    return served


def collection_path(obj: Json, resource: Resource) -> str:
    namespace = f"/namespaces/{obj['metadata']['namespace']}" if resource.namespaced else ""
    return f"{api_root(obj['apiVersion'])}{namespace}/{resource.plural}"


def label(obj: Json) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def merge_patch(original: Json, modified: Json) -> Json:
    """The JSON merge patch (RFC 7386) from `original` to `modified`. Like helm's three-way patch it removes
    what the new rendering dropped and leaves alone what the API server added (a Service's clusterIP); a
    changed list is sent whole, where helm's strategic merge would add and delete its items by key."""
    patch: Json = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        before = original.get(key)
        if isinstance(before, dict) and isinstance(value, dict):
            change = merge_patch(before, value)
            if change:
                patch[key] = change
        elif before != value:
            patch[key] = value
    return patch


def send(
    cluster: Cluster,
    objects: tuple[Json, ...],
    *,
    params: dict[str, str],
    installed_from: tuple[Json, ...] = (),
) -> Outcome:
    """Create every object the API server serves (with `params`); patch the ones that exist from how
    `installed_from` rendered them (from nothing when it did not)."""
    originals = {label(obj): obj for obj in installed_from}
    served = served_resources(cluster, {obj["apiVersion"] for obj in objects})
    outcome = Outcome()
    for obj in objects:
        resource = served.get((obj["apiVersion"], obj["kind"]))
        if resource is None:
            outcome.skipped.add((obj["apiVersion"], obj["kind"]))
            continue
        collection = collection_path(obj, resource)
        response = cluster.request("POST", collection, json=obj, params=params)
        if response.status_code == 409:
            response = cluster.request(
                "PATCH",
                f"{collection}/{obj['metadata']['name']}",
                json=merge_patch(originals.get(label(obj), {}), obj),
                params=params,
                headers={"Content-Type": "application/merge-patch+json"},
            )
            done = outcome.updated
        else:
            done = outcome.created
        if response.status_code >= 300:
            outcome.refused.append(f"{label(obj)}: {response.status_code} {_message(response.json())}")
        else:
            done.append(label(obj))
    return outcome


def _message(status: Any) -> str:
    return str(status.get("message")) if isinstance(status, dict) else str(status)


def expected_skips(objects: tuple[Json, ...]) -> set[GroupVersionKind]:
    return {(obj["apiVersion"], obj["kind"]) for obj in objects} & UNSERVED.keys()


@pytest.fixture(scope="module")
def release_namespace(own_cluster: Cluster) -> str:
    """The namespace `helm install --namespace` deploys into: the operator makes it, the chart does not."""
    return own_cluster.namespace(NAMESPACE)


@dataclass(frozen=True)
class Installation:
    objects: tuple[Json, ...]
    outcome: Outcome


@pytest.fixture
def installed(own_cluster: Cluster, chart: Chart, release_namespace: str) -> Iterator[Installation]:
    """The default rendering really created, as `helm install` leaves it; deleted again afterwards."""
    objects = chart.render(ALL[INSTALLED_SCENARIO]).objects
    installation = Installation(objects, send(own_cluster, objects, params={}))
    yield installation
    served = served_resources(own_cluster, {obj["apiVersion"] for obj in objects})
    for obj in objects:
        resource = served.get((obj["apiVersion"], obj["kind"]))
        if resource is not None:
            own_cluster.delete(f"{collection_path(obj, resource)}/{obj['metadata']['name']}")


@pytest.mark.parametrize("scenario", ALL)
def test_a_fresh_install_passes_validation_except_for_the_kinds_the_server_lacks(
    own_cluster: Cluster, chart: Chart, release_namespace: str, scenario: str
) -> None:
    objects = chart.render(ALL[scenario]).objects

    outcome = send(own_cluster, objects, params=DRY_RUN)

    assert outcome.refused == []
    assert outcome.skipped == expected_skips(objects), {kind: UNSERVED.get(kind) for kind in outcome.skipped}
    sent = [label(obj) for obj in objects if (obj["apiVersion"], obj["kind"]) not in outcome.skipped]
    assert sorted(outcome.created + outcome.updated) == sorted(sent)


@pytest.mark.parametrize("scenario", [name for name in ALL if name != INSTALLED_SCENARIO])
def test_an_upgrade_from_the_defaults_passes_validation_as_updates(
    own_cluster: Cluster, chart: Chart, installed: Installation, scenario: str
) -> None:
    objects = chart.render(ALL[scenario]).objects

    outcome = send(own_cluster, objects, params=DRY_RUN, installed_from=installed.objects)

    assert installed.outcome.refused == []
    assert outcome.refused == []
    assert set(outcome.updated) == set(installed.outcome.created) & {label(obj) for obj in objects}
    assert outcome.updated


def test_a_dry_run_stores_nothing(own_cluster: Cluster, chart: Chart, release_namespace: str) -> None:
    objects = chart.render(ALL[INSTALLED_SCENARIO]).objects

    send(own_cluster, objects, params=DRY_RUN)

    deployments = own_cluster.get(f"/apis/apps/v1/namespaces/{release_namespace}/deployments")
    assert deployments["items"] == []
