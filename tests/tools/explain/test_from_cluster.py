"""`explain` with ServiceAccounts read from the cluster: every annotation is seen, so every typo is named."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fake_apiserver import FakeApiServer
from tests.tools.explain.support import PREFIX, ROLE_ARN, pod, role_annotation, service_account
from webhook.cli import main

ExplainFromCluster = Callable[[Sequence[Any]], list[dict[str, Any]]]


@pytest.fixture
def explain_from_cluster(
    fake_kubeconfig: Path,
    write_yaml: Callable[[str, Sequence[Any]], Path],
    capsys: pytest.CaptureFixture[str],
) -> ExplainFromCluster:
    def run(manifests: Sequence[Any]) -> list[dict[str, Any]]:
        manifest_file = write_yaml("manifests.yaml", manifests)
        status = main(
            ["explain", "-f", str(manifest_file), "--kubeconfig", str(fake_kubeconfig), "-o", "json"]
        )
        captured = capsys.readouterr()
        assert status == 0, captured.err
        explanations: list[dict[str, Any]] = json.loads(captured.out)
        return explanations

    return run


@pytest.mark.parametrize(
    ("annotations", "verdict", "note"),
    [
        (role_annotation(), "mutated", None),
        (
            {"eks.amazon.com/role-arn": ROLE_ARN},
            "no-role",
            f"annotation eks.amazon.com/role-arn is not read: did you mean {PREFIX}/role-arn?",
        ),
        (
            {"EKS.amazonaws.com/role-arn": ROLE_ARN},
            "no-role",
            f"annotation EKS.amazonaws.com/role-arn is not read: did you mean {PREFIX}/role-arn?",
        ),
        (
            {"role-arn": ROLE_ARN},
            "no-role",
            f"annotation role-arn is not read: did you mean {PREFIX}/role-arn?",
        ),
        (
            {"iam.amazonaws.com/role": ROLE_ARN},
            "no-role",
            f"annotation iam.amazonaws.com/role holds a role ARN, but the role is read only from {PREFIX}/role-arn",
        ),
        (
            {
                **role_annotation(),
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "team": "payments",
            },
            "mutated",
            None,
        ),
    ],
    ids=["annotated", "wrong domain", "wrong case", "no prefix", "kube2iam key", "unrelated annotations"],
)
def test_service_account_annotations_from_the_cluster(
    annotations: dict[str, str],
    verdict: str,
    note: str | None,
    fake_apiserver: FakeApiServer,
    explain_from_cluster: ExplainFromCluster,
) -> None:
    fake_apiserver.apply(service_account(annotations))

    (explanation,) = explain_from_cluster([pod()])

    assert explanation["verdict"] == verdict
    assert explanation["notes"] == ([] if note is None else [explanation["notes"][0]])
    if note is not None:
        assert note in explanation["notes"][0]


def test_service_account_missing_from_the_cluster(
    fake_apiserver: FakeApiServer, explain_from_cluster: ExplainFromCluster
) -> None:
    fake_apiserver.apply(service_account(role_annotation(), namespace="elsewhere"))

    (explanation,) = explain_from_cluster([pod()])

    assert explanation["verdict"] == "serviceaccount-not-found"
    assert "ServiceAccount default/app was not found in the cluster" in explanation["reasons"][0]


def test_a_service_account_without_annotations_is_found_and_has_no_role(
    fake_apiserver: FakeApiServer, explain_from_cluster: ExplainFromCluster
) -> None:
    fake_apiserver.apply(service_account())

    (explanation,) = explain_from_cluster([pod()])

    assert explanation["verdict"] == "no-role"


def test_each_service_account_is_read_once(
    fake_apiserver: FakeApiServer, explain_from_cluster: ExplainFromCluster
) -> None:
    fake_apiserver.apply(service_account(role_annotation()))

    explanations = explain_from_cluster([pod(name="one"), pod(name="two")])

    assert [item["verdict"] for item in explanations] == ["mutated", "mutated"]
    assert fake_apiserver.count("get", "/api/v1/namespaces/default/serviceaccounts/app") == 1


def test_unreachable_cluster_is_a_one_line_error(
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    write_yaml: Callable[[str, Sequence[Any]], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_apiserver.stop()

    status = main(
        ["explain", "-f", str(write_yaml("pod.yaml", [pod()])), "--kubeconfig", str(fake_kubeconfig)]
    )

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert "cannot reach the API server" in error
