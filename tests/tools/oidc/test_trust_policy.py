"""`trust-policy`: the IAM documents, checked field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from webhook.cli import main

ISSUER = "https://oidc.example.com/cluster-1"
PROVIDER = "oidc.example.com/cluster-1"
ACCOUNT = "111122223333"


def trust_policy(capsys: pytest.CaptureFixture[str], *arguments: str) -> dict[str, Any]:
    assert main(["trust-policy", *arguments]) == 0
    policy: dict[str, Any] = json.loads(capsys.readouterr().out)
    return policy


def irsa_policy(capsys: pytest.CaptureFixture[str], *arguments: str) -> dict[str, Any]:
    return trust_policy(capsys, "--issuer", ISSUER, "--account-id", ACCOUNT, *arguments)


def test_policy_for_one_service_account_trusts_its_sub_and_the_sts_audience(
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = irsa_policy(capsys, "--service-account", "default/s3-reader")

    assert policy["Version"] == "2012-10-17"
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}"}
    assert statement["Condition"] == {
        "StringEquals": {
            f"{PROVIDER}:sub": "system:serviceaccount:default:s3-reader",
            f"{PROVIDER}:aud": "sts.amazonaws.com",
        }
    }


@pytest.mark.parametrize(
    ("arguments", "conditions"),
    [
        (
            ["--service-account", "team-a/reader", "--service-account", "team-b/writer"],
            {
                "StringEquals": {
                    "sub": ["system:serviceaccount:team-a:reader", "system:serviceaccount:team-b:writer"]
                }
            },
        ),
        (
            ["--namespace", "team-a"],
            {"StringLike": {"sub": "system:serviceaccount:team-a:*"}},
        ),
        (
            ["--namespace", "team-*"],
            {"StringLike": {"sub": "system:serviceaccount:team-*:*"}},
        ),
        (
            ["--service-account", "default/s3-reader", "--namespace", "batch"],
            {
                "StringLike": {
                    "sub": ["system:serviceaccount:default:s3-reader", "system:serviceaccount:batch:*"]
                }
            },
        ),
        (
            ["--service-account", "default/s3-reader", "--service-account", "default/s3-reader"],
            {"StringEquals": {"sub": "system:serviceaccount:default:s3-reader"}},
        ),
        (
            ["--service-account", "default/s3-reader", "--audience", "my-audience"],
            {"StringEquals": {"sub": "system:serviceaccount:default:s3-reader", "aud": "my-audience"}},
        ),
    ],
    ids=[
        "several service accounts",
        "a namespace",
        "a namespace pattern",
        "exact and wildcard together: all under StringLike",
        "a service account named twice",
        "custom audience",
    ],
)
def test_subject_conditions(
    arguments: list[str], conditions: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = irsa_policy(capsys, *arguments)

    expected: dict[str, dict[str, Any]] = {
        operator: {f"{PROVIDER}:{key}": value for key, value in values.items()}
        for operator, values in conditions.items()
    }
    expected.setdefault("StringEquals", {}).setdefault(f"{PROVIDER}:aud", "sts.amazonaws.com")
    assert policy["Statement"][0]["Condition"] == expected


@pytest.mark.parametrize(
    ("arguments", "partition"),
    [
        ([], "aws"),
        (["--region", "eu-west-1"], "aws"),
        (["--region", "cn-north-1"], "aws-cn"),
        (["--region", "cn-northwest-1"], "aws-cn"),
        (["--region", "us-gov-west-1"], "aws-us-gov"),
        (["--region", "us-iso-east-1"], "aws-iso"),
        (["--region", "us-isob-east-1"], "aws-iso-b"),
        (["--region", "eu-isoe-west-1"], "aws-iso-e"),
        (["--region", "us-isof-south-1"], "aws-iso-f"),
        (["--region", "eusc-de-east-1"], "aws-eusc"),
        (["--partition", "aws-iso-f"], "aws-iso-f"),
        (["--partition", "aws-us-gov"], "aws-us-gov"),
        (["--partition", "aws-cn"], "aws-cn"),
    ],
)
def test_principal_arn_is_in_the_partition_of_the_region(
    arguments: list[str], partition: str, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = irsa_policy(capsys, "--service-account", "default/app", *arguments)

    principal = policy["Statement"][0]["Principal"]["Federated"]
    assert principal == f"arn:{partition}:iam::{ACCOUNT}:oidc-provider/{PROVIDER}"


def test_trailing_slash_of_the_issuer_is_not_part_of_the_provider(capsys: pytest.CaptureFixture[str]) -> None:
    policy = trust_policy(
        capsys,
        "--issuer",
        "https://oidc.example.com/",
        "--account-id",
        ACCOUNT,
        "--service-account",
        "ns/app",
    )

    statement = policy["Statement"][0]
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/oidc.example.com")
    assert set(statement["Condition"]["StringEquals"]) == {"oidc.example.com:sub", "oidc.example.com:aud"}


def test_pod_identity_policy_trusts_the_eks_pods_service(capsys: pytest.CaptureFixture[str]) -> None:
    policy = trust_policy(capsys, "--pod-identity")

    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--issuer", ISSUER, "--account-id", "1111-2222-3333", "--service-account", "a/b"],
            "exactly 12 digits",
        ),
        (["--issuer", ISSUER, "--account-id", ACCOUNT, "--service-account", "s3-reader"], "namespace/name"),
        (
            ["--issuer", ISSUER, "--account-id", ACCOUNT, "--service-account", "Default/app"],
            "not a valid namespace",
        ),
        (
            ["--issuer", ISSUER, "--account-id", ACCOUNT, "--service-account", "ns/"],
            "not a valid ServiceAccount",
        ),
        (["--issuer", ISSUER, "--account-id", ACCOUNT, "--namespace", "team_a"], "namespace 'team_a'"),
        (["--issuer", ISSUER, "--account-id", ACCOUNT], "at least one --service-account"),
        (["--account-id", ACCOUNT, "--service-account", "a/b"], "--issuer and --account-id are required"),
        (["--issuer", "http://oidc.example.com", "--account-id", ACCOUNT, "--namespace", "a"], "https://"),
        (["--issuer", f"{ISSUER}?x=1", "--account-id", ACCOUNT, "--namespace", "a"], "query string"),
        (
            ["--issuer", ISSUER, "--account-id", ACCOUNT, "--namespace", "a", "--region", "mars"],
            "region 'mars'",
        ),
        (["--pod-identity", "--issuer", ISSUER], "--pod-identity takes no --issuer"),
    ],
    ids=[
        "account id with dashes",
        "service account without namespace",
        "upper-case namespace",
        "empty service account name",
        "underscore in namespace",
        "no subject",
        "no issuer",
        "http issuer",
        "issuer with query string",
        "unknown region",
        "pod identity with IRSA flags",
    ],
)
def test_trust_policy_errors_are_one_line(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["trust-policy", *arguments])

    captured = capsys.readouterr()
    assert (status, captured.out, captured.err.count("\n")) == (1, "", 1)
    assert message in captured.err


def test_values_pasted_with_surrounding_spaces_are_trimmed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trust-policy", "--issuer", f" {ISSUER} ", "--account-id", f" {ACCOUNT} ",
                 "--service-account", " default/app ", "--namespace", " team-* "]) == 0  # fmt: skip

    statement = json.loads(capsys.readouterr().out)["Statement"][0]
    assert statement["Principal"]["Federated"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}"
    assert statement["Condition"]["StringLike"][f"{PROVIDER}:sub"] == [
        "system:serviceaccount:default:app",
        "system:serviceaccount:team-*:*",
    ]


@pytest.mark.parametrize(
    ("issuer", "problem"),
    [
        (f"{ISSUER}#", "has a fragment"),
        (f"{ISSUER}?", "has a query string"),
        (f"{ISSUER}/\x7f1", "control characters"),
    ],
    ids=["empty-fragment", "empty-query", "delete-character"],
)
def test_issuers_iam_cannot_match_are_refused(
    issuer: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["trust-policy", "--issuer", issuer, "--account-id", ACCOUNT, "--service-account", "default/app"]
    )

    assert status == 1
    assert problem in capsys.readouterr().err
