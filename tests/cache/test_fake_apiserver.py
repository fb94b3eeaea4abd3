"""The in-test API server answers the official client as kube-apiserver would, for the calls our code makes.

Other test folders rely on it (Secrets and the MutatingWebhookConfiguration of the self-managed TLS mode),
so its own behaviour is pinned here.
"""

from __future__ import annotations

import pytest
from kubernetes.client import AdmissionregistrationV1Api, ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from tests.fake_apiserver import FakeApiServer

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}, "data": {"ca.crt": "Y2E="}}
WEBHOOK_CONFIGURATION = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "pod-identity-webhook"},
    "webhooks": [
        {
            "name": "pod-identity-webhook.amazonaws.com",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {"service": {"name": "pod-identity-webhook", "namespace": "system"}},
        }
    ],
}


def test_create_then_read_back_then_conflict_on_a_second_create(cluster: ApiClient) -> None:
    core = CoreV1Api(cluster)

    created = core.create_namespaced_secret("system", SECRET)
    read = core.read_namespaced_secret("tls", "system")
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_secret("system", SECRET)

    assert read.data == {"ca.crt": "Y2E="}
    assert read.metadata.resource_version == created.metadata.resource_version
    assert read.metadata.namespace == "system"
    assert duplicate.value.status == 409
    assert '"reason": "AlreadyExists"' in duplicate.value.body


def test_update_with_a_stale_resource_version_is_a_conflict(cluster: ApiClient) -> None:
    core = CoreV1Api(cluster)
    created = core.create_namespaced_secret("system", SECRET)
    stale = created.metadata.resource_version

    fresh = core.replace_namespaced_secret(
        "tls", "system", {**SECRET, "metadata": {"name": "tls", "resourceVersion": stale}}
    )
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_secret(
            "tls", "system", {**SECRET, "metadata": {"name": "tls", "resourceVersion": stale}}
        )

    assert int(fresh.metadata.resource_version) > int(stale)
    assert conflict.value.status == 409
    assert '"reason": "Conflict"' in conflict.value.body


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {"data": {"tls.crt": "Y3J0"}}),
        ("application/strategic-merge-patch+json", {"data": {"tls.crt": "Y3J0"}}),
        ("application/json-patch+json", [{"op": "add", "path": "/data/tls.crt", "value": "Y3J0"}]),
    ],
)
def test_patches_of_each_content_type(cluster: ApiClient, content_type: str, patch: object) -> None:
    core = CoreV1Api(cluster)
    core.create_namespaced_secret("system", SECRET)

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
    core.create_namespaced_secret("system", SECRET)

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

    assert [(item.metadata.namespace, item.metadata.name) for item in listed.items] == [("a", "keep")]
    assert int(listed.metadata.resource_version) >= 1003
