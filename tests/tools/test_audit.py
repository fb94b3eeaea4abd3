"""`audit` on pods as the API server lists them: which ones missed their credentials, which it leaves out,
and what it says about each, in `explain`'s words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tools.explain.support import MOUNT_PATH, ROLE_ARN, container, pod, role_annotation
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings
from webhook.tools.audit import audit_pods
from webhook.tools.explain import IdentityInputs

Json = dict[str, Any]
ACCOUNTS = {("default", "app"): role_annotation(), ("default", "plain"): {}}
MUTATED = {"AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": f"{MOUNT_PATH}/token"}
REPLICASET = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "app-5d4f",
    "uid": "rs-1",
    "controller": True,
}

INPUTS = IdentityInputs(
    service_accounts=lambda namespace, name: ACCOUNTS.get((namespace, name)),
    mappings=RoleMappings(),
    pod_identities=PodIdentityAssociations(),
    settings=MutationSettings(),
    where="the cluster",
)


def listed(stored: Json, *, phase: str = "Running", owner: Json | None = None, **metadata: Any) -> Json:
    """The pod as a list returns it: with a status, and an owner when a controller made it."""
    stored["metadata"].update(metadata)
    if owner:
        stored["metadata"]["ownerReferences"] = [owner]
    stored["status"] = {"phase": phase}
    return stored


def mutated_container(name: str = "app") -> Json:
    each = container(name, **MUTATED)
    each["volumeMounts"] = [{"name": "aws-iam-token", "mountPath": MOUNT_PATH}]
    return each


@pytest.mark.parametrize(
    ("stored", "missed"),
    [
        pytest.param(listed(pod()), True, id="never-mutated"),
        pytest.param(listed(pod(), phase="Pending"), True, id="pending"),
        pytest.param(listed(pod(mutated_container())), False, id="mutated"),
        pytest.param(listed(pod(service_account="plain")), False, id="no-role"),
        pytest.param(listed(pod(service_account="gone")), False, id="serviceaccount-missing"),
        pytest.param(listed(pod(), phase="Succeeded"), False, id="finished"),
        pytest.param(listed(pod(), phase="Failed"), False, id="failed"),
        pytest.param(listed(pod(), deletionTimestamp="2026-01-01T00:00:00Z"), False, id="being-deleted"),
        pytest.param(listed(pod(namespace="kube-system")), False, id="excluded-namespace"),
    ],
)
def test_a_pod_is_reported_when_the_webhook_would_still_give_it_credentials(
    stored: Json, missed: bool
) -> None:
    result = audit_pods([stored], inputs=INPUTS, exclude_namespaces={"kube-system"})

    assert [each.explanation.name for each in result.missed] == (["app"] if missed else [])


def test_the_reason_is_explains_and_the_remedy_depends_on_the_owner() -> None:
    pods = [
        listed(pod(container("web"), mutated_container("sidecar"), name="owned"), owner=REPLICASET),
        listed(pod(name="bare")),
    ]

    result = audit_pods(pods, inputs=INPUTS)

    owned, bare = result.missed
    assert result.checked == 2
    assert owned.explanation.reasons == (
        f"IRSA: role {ROLE_ARN}, from the ServiceAccount's eks.amazonaws.com/role-arn annotation "
        "(token audience sts.amazonaws.com, lifetime 86400s)",
    )
    assert [each.name for each in owned.containers] == ["web"]
    assert owned.containers[0].reasons[0] == f"adds AWS_ROLE_ARN={ROLE_ARN}"
    assert owned.controller == "ReplicaSet app-5d4f"
    assert "its ReplicaSet app-5d4f creates it again" in owned.what_to_do
    assert bare.controller is None
    assert "has no controller" in bare.what_to_do
