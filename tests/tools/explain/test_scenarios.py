"""`explain` per scenario: the verdict, the reason in words, and what happens to each container."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.tools.explain.conftest import Explain
from tests.tools.explain.support import (
    MOUNT_PATH,
    OTHER_ROLE_ARN,
    PREFIX,
    ROLE_ARN,
    container,
    pod,
    role_annotation,
    service_account,
)

IRSA_ENV = ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
CONFIGURED = container(
    "app", AWS_ROLE_ARN=OTHER_ROLE_ARN, AWS_REGION="eu-west-1", AWS_STS_REGIONAL_ENDPOINTS="regional"
)


@dataclass(frozen=True)
class Scenario:
    pod: dict[str, Any]
    service_account: dict[str, Any] | None
    verdict: str
    reasons: Sequence[str] = ()
    """Fragments the pod's reasons must contain."""
    notes: Sequence[str] = ()
    """Fragments of the notes, one note each, and no other note."""
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per container name, the fields of its JSON explanation that must have these values."""
    mapping: dict[str, Any] | None = None
    pod_identities: Sequence[tuple[str, str]] = ()
    args: Sequence[str] = ()


SCENARIOS = {
    "annotated ServiceAccount: every container gets the role": Scenario(
        pod=pod(container("app"), container("sidecar")),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        reasons=[f"IRSA: role {ROLE_ARN}, from the ServiceAccount's {PREFIX}/role-arn annotation"],
        containers={
            "app": {"addedEnv": IRSA_ENV, "mount": "added", "skipped": None, "changed": True},
            "sidecar": {"addedEnv": IRSA_ENV, "mount": "added", "skipped": None, "changed": True},
        },
    ),
    "no role annotation": Scenario(
        pod=pod(),
        service_account=service_account(),
        verdict="no-role",
        reasons=[f"ServiceAccount default/app has no {PREFIX}/role-arn annotation, no operator mapping"],
    ),
    "empty role annotation": Scenario(
        pod=pod(),
        service_account=service_account({f"{PREFIX}/role-arn": ""}),
        verdict="no-role",
        reasons=[f"has an empty {PREFIX}/role-arn annotation"],
    ),
    "annotation typo: rolearn": Scenario(
        pod=pod(),
        service_account=service_account({f"{PREFIX}/rolearn": ROLE_ARN}),
        verdict="no-role",
        notes=[f"annotation {PREFIX}/rolearn is not read: did you mean {PREFIX}/role-arn?"],
    ),
    "annotation typo: wrong case": Scenario(
        pod=pod(),
        service_account=service_account({f"{PREFIX}/Role-ARN": ROLE_ARN}),
        verdict="no-role",
        notes=[f"{PREFIX}/Role-ARN is not read: did you mean {PREFIX}/role-arn?"],
    ),
    "annotation typo: underscore": Scenario(
        pod=pod(),
        service_account=service_account({f"{PREFIX}/role_arn": ROLE_ARN}),
        verdict="no-role",
        notes=[f"{PREFIX}/role_arn is not read: did you mean {PREFIX}/role-arn?"],
    ),
    "annotation typo next to a working role": Scenario(
        pod=pod(),
        service_account=service_account({**role_annotation(), f"{PREFIX}/audiences": "my-audience"}),
        verdict="mutated",
        notes=[f"{PREFIX}/audiences is not read: did you mean {PREFIX}/audience?"],
    ),
    "ServiceAccount missing": Scenario(
        pod=pod(service_account="ghost"),
        service_account=None,
        verdict="serviceaccount-not-found",
        reasons=["ServiceAccount default/ghost was not found in", "so there is no role to inject"],
    ),
    "skip label": Scenario(
        pod=pod(labels={f"{PREFIX}/skip-pod-identity-webhook": "true"}),
        service_account=service_account(role_annotation()),
        verdict="skip-label",
        reasons=[f"the pod has the label {PREFIX}/skip-pod-identity-webhook"],
    ),
    "skip label typo": Scenario(
        pod=pod(labels={f"{PREFIX}/skip-pod-identity": "true"}),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        notes=[
            f"label {PREFIX}/skip-pod-identity is not read: did you mean {PREFIX}/skip-pod-identity-webhook?"
        ],
    ),
    "skip-containers": Scenario(
        pod=pod(container("app"), container("envoy"), annotations={f"{PREFIX}/skip-containers": " envoy "}),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        containers={
            "app": {"changed": True},
            "envoy": {"skipped": "skip-containers", "changed": False, "addedEnv": [], "mount": None},
        },
    ),
    "skip-containers naming no container": Scenario(
        pod=pod(container("app"), annotations={f"{PREFIX}/skip-containers": "envoy"}),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        notes=[f"{PREFIX}/skip-containers names 'envoy', which is not a container of this pod"],
    ),
    "container with its own credentials": Scenario(
        pod=pod(container("app", AWS_ROLE_ARN=OTHER_ROLE_ARN)),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        containers={"app": {"addedEnv": [], "mount": "added", "skipped": None}},
    ),
    "every container already configured: the pod still gets the volume, as from the reference": Scenario(
        pod=pod(CONFIGURED),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        containers={"app": {"skipped": "already-configured", "changed": False}},
    ),
    "every container already configured and the volume there": Scenario(
        pod=pod(CONFIGURED, volumes=({"name": "aws-iam-token", "emptyDir": {}},)),
        service_account=service_account(role_annotation()),
        verdict="nothing-to-change",
        reasons=["every container is skipped or already configured and the pod has the aws-iam-token volume"],
        containers={"app": {"skipped": "already-configured", "changed": False}},
    ),
    "init container too": Scenario(
        pod=pod(container("app"), init_containers=(container("migrate"),)),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        containers={
            "migrate": {"init": True, "addedEnv": IRSA_ENV},
            "app": {"init": False, "addedEnv": IRSA_ENV},
        },
    ),
    "operator mapping": Scenario(
        pod=pod(),
        service_account=service_account(),
        mapping={"default/app": {"RoleARN": OTHER_ROLE_ARN}},
        verdict="mutated",
        reasons=[f"IRSA: role {OTHER_ROLE_ARN}, from the operator mapping 'default/app'"],
    ),
    "operator mapping shadowed by the annotation": Scenario(
        pod=pod(),
        service_account=service_account(role_annotation()),
        mapping={"*/app": {"RoleARN": OTHER_ROLE_ARN}},
        verdict="mutated",
        reasons=[f"IRSA: role {ROLE_ARN}, from the ServiceAccount's {PREFIX}/role-arn annotation"],
        notes=[f"the operator mapping '*/app' (role {OTHER_ROLE_ARN}) is not used"],
    ),
    "Pod Identity association wins over the annotation": Scenario(
        pod=pod(),
        service_account=service_account(role_annotation()),
        pod_identities=[("default", "app")],
        verdict="mutated",
        reasons=["EKS Pod Identity: the ServiceAccount is listed in the Pod Identity associations"],
        notes=[f"{PREFIX}/role-arn annotation ({ROLE_ARN}) is not used: its Pod Identity association wins"],
        containers={
            "app": {
                "addedEnv": ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
            }
        },
    ),
    "role annotated on the pod instead of its ServiceAccount": Scenario(
        pod=pod(annotations=role_annotation()),
        service_account=service_account(),
        verdict="no-role",
        notes=["a role on the pod is ignored: a pod cannot choose its role; annotate its ServiceAccount"],
    ),
    "kube2iam role annotation on the pod": Scenario(
        pod=pod(annotations={"iam.amazonaws.com/role": ROLE_ARN}),
        service_account=service_account(),
        verdict="no-role",
        notes=["a role on the pod is ignored"],
    ),
    "another volume at the token path": Scenario(
        pod=pod(
            {
                **container("app"),
                "volumeMounts": [{"name": "secrets", "mountPath": MOUNT_PATH}],
            }
        ),
        service_account=service_account(role_annotation()),
        verdict="mutated",
        containers={"app": {"mount": "path-conflict", "addedEnv": IRSA_ENV}},
    ),
    "region and regional STS from the flags": Scenario(
        pod=pod(),
        service_account=service_account(role_annotation()),
        args=["--aws-default-region", "eu-west-1", "--sts-regional-endpoint", "true"],
        verdict="mutated",
        reasons=["regional STS endpoint"],
        containers={
            "app": {"addedEnv": ["AWS_STS_REGIONAL_ENDPOINTS", "AWS_DEFAULT_REGION", "AWS_REGION", *IRSA_ENV]}
        },
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_explain_scenario(
    name: str, explain_json: Explain, write_yaml: Callable[[str, Sequence[Any]], Path], tmp_path: Path
) -> None:
    scenario = SCENARIOS[name]
    args = list(scenario.args)
    if scenario.mapping is not None:
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pod-identity-webhook"},
                      "data": {"config": json.dumps(scenario.mapping)}}  # fmt: skip
        args += ["--config-map-file", str(write_yaml("configmap.yaml", [config_map]))]
    if scenario.pod_identities:
        associations = tmp_path / "pod-identities.json"
        identities = [
            {"namespace": namespace, "serviceAccount": sa} for namespace, sa in scenario.pod_identities
        ]
        associations.write_text(json.dumps({"identities": identities}))
        args += ["--watch-container-credentials-config", str(associations)]
    accounts = [scenario.service_account] if scenario.service_account else []

    (explanation,) = explain_json([scenario.pod], service_accounts=accounts, args=args)

    assert explanation["verdict"] == scenario.verdict
    assert explanation["changed"] == (scenario.verdict == "mutated")
    for fragment in scenario.reasons:
        assert any(fragment in reason for reason in explanation["reasons"]), explanation["reasons"]
    assert len(explanation["notes"]) == len(scenario.notes), explanation["notes"]
    for fragment in scenario.notes:
        assert sum(fragment in note for note in explanation["notes"]) == 1, explanation["notes"]
    by_name = {item["name"]: item for item in explanation["containers"]}
    for container_name, expected in scenario.containers.items():
        actual = dict(by_name[container_name])
        actual["addedEnv"] = [variable["name"] for variable in actual["addedEnv"]]
        assert {key: actual[key] for key in expected} == expected
