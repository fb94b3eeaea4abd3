"""`--watch-config-map`: the role mappings follow the ConfigMap `pod-identity-webhook` in the webhook's namespace."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient

from tests.cluster.support import FAST_BACKOFF, eventually, metric, role_arn
from tests.fake_apiserver import FakeApiServer
from webhook.cluster.identity_sources import IdentitySources
from webhook.cluster.role_mappings_watch import RoleMappingsWatch

NAMESPACE = "pod-identity"


def config_map(
    data: dict[str, str] | None, *, name: str = "pod-identity-webhook", namespace: str = NAMESPACE
) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def mappings_config(**roles: str) -> dict[str, str]:
    """`config` mapping `default/<name>` to each role; names use dashes where keywords have underscores."""
    entries = {f"default/{name.replace('_', '-')}": {"RoleARN": role} for name, role in roles.items()}
    return {"config": json.dumps(entries)}


def role_of(sources: IdentitySources, name: str) -> str | None:
    mapping = sources.mappings.lookup("default", name)
    return None if mapping is None else mapping.role_arn


@pytest.fixture
def sources() -> IdentitySources:
    return IdentitySources()


@pytest.fixture
def watching(cluster: ApiClient, sources: IdentitySources) -> Iterator[RoleMappingsWatch]:
    watch = RoleMappingsWatch(api_client=cluster, namespace=NAMESPACE, sources=sources, backoff=FAST_BACKOFF)
    watch.start()
    eventually(lambda: watch.synced, what="the first list")
    yield watch
    watch.stop()


def reloads(result: str) -> float:
    return metric("config_reloads_total", source="role-mappings", result=result)


def test_mappings_present_at_start_are_loaded(fake_apiserver: FakeApiServer, cluster: ApiClient) -> None:
    fake_apiserver.apply(config_map(mappings_config(app=role_arn("app"))))
    sources = IdentitySources()
    watch = RoleMappingsWatch(api_client=cluster, namespace=NAMESPACE, sources=sources, backoff=FAST_BACKOFF)

    watch.start()
    try:
        eventually(lambda: role_of(sources, "app") == role_arn("app"), what="the mappings")
    finally:
        watch.stop()
    assert fake_apiserver.requests[0].query["fieldSelector"] == "metadata.name=pod-identity-webhook"
    assert fake_apiserver.requests[0].path == f"/api/v1/namespaces/{NAMESPACE}/configmaps"


def test_creating_and_updating_the_config_map_replaces_the_mappings(
    fake_apiserver: FakeApiServer, watching: RoleMappingsWatch, sources: IdentitySources
) -> None:
    assert len(sources.mappings) == 0

    fake_apiserver.apply(config_map(mappings_config(app=role_arn("app"))))
    eventually(lambda: role_of(sources, "app") == role_arn("app"), what="the created ConfigMap")

    fake_apiserver.apply(config_map(mappings_config(other=role_arn("other"))))
    eventually(lambda: role_of(sources, "other") == role_arn("other"), what="the updated ConfigMap")
    assert role_of(sources, "app") is None


def test_a_bad_config_keeps_the_previous_mappings_and_says_so(
    fake_apiserver: FakeApiServer,
    watching: RoleMappingsWatch,
    sources: IdentitySources,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_apiserver.apply(config_map(mappings_config(app=role_arn("app"))))
    eventually(lambda: role_of(sources, "app") == role_arn("app"), what="the good ConfigMap")
    errors_before = reloads("error")

    with caplog.at_level(logging.ERROR, logger="webhook.role_mappings_watch"):
        fake_apiserver.apply(config_map({"config": '{"default/app": {"RoleARN": '}))
        eventually(lambda: reloads("error") > errors_before, what="the bad ConfigMap")

    assert role_of(sources, "app") == role_arn("app")
    assert "keeping the previous 1 role mappings" in caplog.text
    assert "not JSON" in caplog.text


@pytest.mark.parametrize("removal", ["delete the ConfigMap", "delete the config key"])
def test_removing_the_config_removes_the_mappings(
    fake_apiserver: FakeApiServer, watching: RoleMappingsWatch, sources: IdentitySources, removal: str
) -> None:
    fake_apiserver.apply(config_map(mappings_config(app=role_arn("app"))))
    eventually(lambda: role_of(sources, "app") == role_arn("app"), what="the ConfigMap")

    if removal == "delete the ConfigMap":
        fake_apiserver.remove("v1", "ConfigMap", "pod-identity-webhook", NAMESPACE)
    else:
        fake_apiserver.apply(config_map({"unrelated": "x"}))

    eventually(lambda: len(sources.mappings) == 0, what="the mappings to go")


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"name": "other-config", "namespace": NAMESPACE},
        {"name": "pod-identity-webhook", "namespace": "kube-system"},
    ],
)
def test_other_config_maps_are_ignored(
    fake_apiserver: FakeApiServer,
    watching: RoleMappingsWatch,
    sources: IdentitySources,
    elsewhere: dict[str, str],
) -> None:
    fake_apiserver.apply(config_map(mappings_config(intruder=role_arn("intruder")), **elsewhere))
    fake_apiserver.apply(config_map(mappings_config(app=role_arn("app"))))

    eventually(lambda: role_of(sources, "app") == role_arn("app"), what="the webhook's own ConfigMap")
    assert role_of(sources, "intruder") is None
