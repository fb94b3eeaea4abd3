"""The in-test API server answers the official client as kube-apiserver would, for the calls our code makes.

Other test folders rely on it (Secrets and the MutatingWebhookConfiguration of the self-managed TLS mode),
so its own behaviour is pinned here.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import (
    AdmissionregistrationV1Api,
    AdmissionregistrationV1ServiceReference,
    AdmissionregistrationV1WebhookClientConfig,
    ApiClient,
    CoreV1Api,
    V1MutatingWebhook,
    V1MutatingWebhookConfiguration,
    V1ObjectMeta,
    V1Secret,
)
from kubernetes.client.exceptions import ApiException

from tests.fake_apiserver import FakeApiServer

WEBHOOK_CONFIGURATION = V1MutatingWebhookConfiguration(
    api_version="admissionregistration.k8s.io/v1",
    kind="MutatingWebhookConfiguration",
    metadata=V1ObjectMeta(name="pod-identity-webhook"),
    webhooks=[
        V1MutatingWebhook(
            name="pod-identity-webhook.amazonaws.com",
            admission_review_versions=["v1"],
            side_effects="None",
            client_config=AdmissionregistrationV1WebhookClientConfig(
                service=AdmissionregistrationV1ServiceReference(
                    name="pod-identity-webhook", namespace="system"
                )
            ),
        )
    ],
)


def secret(*, resource_version: str | None = None) -> V1Secret:
    return V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=V1ObjectMeta(name="tls", resource_version=resource_version),
        data={"ca.crt": "Y2E="},
    )


def metadata(stored: V1Secret) -> V1ObjectMeta:
    """The object's metadata, which the API server always returns."""
    assert stored.metadata is not None
    return stored.metadata


def test_create_then_read_back_then_conflict_on_a_second_create(cluster: ApiClient) -> None:
    core = CoreV1Api(cluster)

    created = core.create_namespaced_secret("system", secret())
    read = core.read_namespaced_secret("tls", "system")
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_secret("system", secret())

    assert read.data == {"ca.crt": "Y2E="}
    assert metadata(read).resource_version == metadata(created).resource_version
    assert metadata(read).namespace == "system"
    assert duplicate.value.status == 409
    assert '"reason": "AlreadyExists"' in str(duplicate.value.body)


def test_update_with_a_stale_resource_version_is_a_conflict(cluster: ApiClient) -> None:
    core = CoreV1Api(cluster)
    stale = metadata(core.create_namespaced_secret("system", secret())).resource_version

    fresh = core.replace_namespaced_secret("tls", "system", secret(resource_version=stale))
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_secret("tls", "system", secret(resource_version=stale))

    assert int(metadata(fresh).resource_version or 0) > int(stale or 0)
    assert conflict.value.status == 409
    assert '"reason": "Conflict"' in str(conflict.value.body)


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {"data": {"tls.crt": "Y3J0"}}),
        ("application/strategic-merge-patch+json", {"data": {"tls.crt": "Y3J0"}}),
        ("application/json-patch+json", [{"op": "add", "path": "/data/tls.crt", "value": "Y3J0"}]),
    ],
)
def test_patches_of_each_content_type(cluster: ApiClient, content_type: str, patch: Any) -> None:
    core = CoreV1Api(cluster)
    core.create_namespaced_secret("system", secret())

    patched = core.patch_namespaced_secret("tls", "system", patch, _content_type=content_type)

    assert patched.data == {"ca.crt": "Y2E=", "tls.crt": "Y3J0"}


def test_cluster_scoped_objects_and_a_missing_one(cluster: ApiClient, fake_apiserver: FakeApiServer) -> None:
    admission = AdmissionregistrationV1Api(cluster)
    admission.create_mutating_webhook_configuration(WEBHOOK_CONFIGURATION)

    patch = [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "Y2E="}]
    admission.patch_mutating_webhook_configuration(
        "pod-identity-webhook", patch, _content_type="application/json-patch+json"
    )
    with pytest.raises(ApiException) as missing:
        admission.read_mutating_webhook_configuration("absent")

    stored = fake_apiserver.get(
        "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "pod-identity-webhook"
    )
    assert stored is not None
    assert stored["webhooks"][0]["clientConfig"]["caBundle"] == "Y2E="
    assert missing.value.status == 404
    assert (
        fake_apiserver.count(
            "patch",
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/pod-identity-webhook",
        )
        == 1
    )


def test_delete_then_the_object_is_gone(cluster: ApiClient) -> None:
    core = CoreV1Api(cluster)
    core.create_namespaced_secret("system", secret())

    core.delete_namespaced_secret("tls", "system")

    with pytest.raises(ApiException) as gone:
        core.read_namespaced_secret("tls", "system")
    assert gone.value.status == 404


def test_field_selector_and_namespace_narrow_a_list(
    cluster: ApiClient, fake_apiserver: FakeApiServer
) -> None:
    for namespace, name in [("a", "keep"), ("a", "other"), ("b", "keep")]:
        fake_apiserver.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}
        )

    listed = CoreV1Api(cluster).list_namespaced_config_map("a", field_selector="metadata.name=keep")

    assert [(item.metadata.namespace, item.metadata.name) for item in listed.items if item.metadata] == [
        ("a", "keep")
    ]
    assert listed.metadata is not None
    assert int(listed.metadata.resource_version or 0) >= 1003
