"""kind.sh cannot run here (no kind), but the manifests it applies can be checked: valid for every
Kubernetes version we support, and shaped so its checks mean something."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_schemas

from tests.validation import SUPPORTED_VERSIONS


@pytest.fixture(scope="module")
def workloads(repo_root: Path) -> list[dict[str, Any]]:
    printed = subprocess.run(
        ["bash", str(repo_root / "tests" / "e2e" / "kind.sh"), "--print-workloads"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [item for item in yaml.safe_load_all(printed.stdout) if item]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_kind_workloads_are_valid_objects(workloads: list[dict[str, Any]], version: str) -> None:
    for item in workloads:
        kubernetes_schemas.validate(item, version, strict=True)


def _pod_spec(item: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = item["spec"]["template"]["spec"] if item["kind"] == "Deployment" else item["spec"]
    return spec


def test_kind_workloads_exercise_irsa_pod_identity_skip_label_and_skip_containers(
    workloads: list[dict[str, Any]],
) -> None:
    by_name = {(item["kind"], item["metadata"]["name"]): item for item in workloads}
    irsa_account = by_name[("ServiceAccount", "irsa")]
    assert irsa_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert "annotations" not in by_name[("ServiceAccount", "pod-identity")]["metadata"]
    skipped = by_name[("Pod", "skipped")]
    assert skipped["metadata"]["labels"] == {"eks.amazonaws.com/skip-pod-identity-webhook": "true"}
    assert skipped["spec"]["serviceAccountName"] == "irsa"
    for name in ("irsa", "pod-identity"):
        deployment = by_name[("Deployment", name)]
        template = deployment["spec"]["template"]
        assert template["metadata"]["annotations"] == {"eks.amazonaws.com/skip-containers": "sidecar"}
        assert [c["name"] for c in template["spec"]["containers"]] == ["app", "sidecar"]
    for item in workloads:
        if item["kind"] in {"Pod", "Deployment"}:
            assert _pod_spec(item)["securityContext"]["fsGroup"] == 65532, (
                "the image's user must read the token"
            )
