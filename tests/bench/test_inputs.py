"""The benchmark's reviews are what the issue describes and what the webhook accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from benchmarks.inputs import (
    LARGE,
    NO_ROLE,
    NO_ROLE_SERVICE_ACCOUNT,
    ROLE_SERVICE_ACCOUNT,
    TYPICAL,
    Inputs,
    write_inputs,
)
from webhook.server.admission_review import decode_review


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


def review(inputs: Inputs, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(inputs.bodies[name].read_bytes())
    return loaded


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [(TYPICAL, 8_000, 10_000), (NO_ROLE, 8_000, 10_000), (LARGE, 180_000, 220_000)],
)
def test_review_has_the_size_the_issue_names(inputs: Inputs, name: str, low: int, high: int) -> None:
    assert low <= inputs.size(name) <= high


@pytest.mark.parametrize(
    ("name", "containers", "service_account"),
    [
        (TYPICAL, 2, ROLE_SERVICE_ACCOUNT),
        (NO_ROLE, 2, NO_ROLE_SERVICE_ACCOUNT),
        (LARGE, 40, ROLE_SERVICE_ACCOUNT),
    ],
)
def test_webhook_decodes_review_as_a_pod_creation(
    inputs: Inputs, name: str, containers: int, service_account: str
) -> None:
    _api_version, request = decode_review(inputs.bodies[name].read_bytes())
    assert request.operation == "CREATE"
    pod = request.object
    assert pod is not None
    assert len(pod.pod_spec.containers or ()) == containers
    assert len(pod.pod_spec.initContainers or ()) == 1
    assert pod.service_account_name == service_account


def test_typical_review_is_shaped_like_a_deployment_pod_at_admission(inputs: Inputs) -> None:
    request = review(inputs, TYPICAL)["request"]
    pod = request["object"]
    assert request["oldObject"] is None
    assert request["dryRun"] is False
    assert request["options"]["kind"] == "CreateOptions"
    assert request["requestKind"]["kind"] == "Pod"
    assert request["userInfo"]["username"].endswith(":replicaset-controller")
    assert "name" not in pod["metadata"]
    assert pod["metadata"]["generateName"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert any(volume["name"].startswith("kube-api-access-") for volume in pod["spec"]["volumes"])
    for container in pod["spec"]["containers"]:
        assert {"livenessProbe", "readinessProbe", "resources", "env"} <= container.keys()


def test_only_the_typical_service_account_has_a_role(inputs: Inputs) -> None:
    documents = list(yaml.safe_load_all(inputs.service_accounts.read_text()))
    roles = {
        doc["metadata"]["name"]: "eks.amazonaws.com/role-arn" in doc["metadata"]["annotations"]
        for doc in documents
    }
    assert roles == {ROLE_SERVICE_ACCOUNT: True, NO_ROLE_SERVICE_ACCOUNT: False}
