"""Which annotation and label keys `explain` takes for a typo of one the webhook reads, and which it leaves be."""

from __future__ import annotations

import pytest

from webhook.engine.annotation_names import (
    POD_ANNOTATIONS,
    POD_LABELS,
    SERVICE_ACCOUNT_ANNOTATIONS,
    WEBHOOK_LABELS,
    near_misses,
)

PREFIX = "eks.amazonaws.com"


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("eks.amazon.com/role-arn", "role-arn"),
        ("eks.amazonaws.com/rolearn", "role-arn"),
        ("eks.amazonaws.com/role_arn", "role-arn"),
        ("eks.amazonaws.com/Role-ARN", "role-arn"),
        ("EKS.amazonaws.com/role-arn", "role-arn"),
        ("role-arn", "role-arn"),
        ("irsa.example.com/role-arn", "role-arn"),
        ("eks.amazonaws.com/audiance", "audience"),
        ("eks.amazonaws.com/sts-regional-endpoint", "sts-regional-endpoints"),
        ("eks.amazonaws.com/token-expiry", "token-expiration"),
        ("eks.amazonaws.cn/token-expiration", "token-expiration"),
        ("EKS.AMAZONAWS.COM/token-expiry", "token-expiration"),
        ("EKS.AMAZON.COM/role-am", "role-arn"),
        ("eks.amazon.com/role-am", "role-arn"),
        ("eks.amazonawX/role-am", "role-arn"),
    ],
)
def test_service_account_annotation_typo_is_found(key: str, meant: str) -> None:
    assert near_misses([key], prefix=PREFIX, names=SERVICE_ACCOUNT_ANNOTATIONS) == [
        (key, f"{PREFIX}/{meant}")
    ]


@pytest.mark.parametrize(
    "key",
    [
        "eks.amazonaws.com/role-arn",
        "eks.amazonaws.com/audience",
        "meta.helm.sh/release-name",
        "meta.helm.sh/release-namespace",
        "kubectl.kubernetes.io/last-applied-configuration",
        "kubernetes.io/enforce-mountable-secrets",
        "iam.gke.io/gcp-service-account",
        "azure.workload.identity/client-id",
        "azure.workload.identity/service-account-token-expiration",
        "argocd.argoproj.io/sync-wave",
        "description",
    ],
)
def test_other_service_account_annotations_are_not_typos(key: str) -> None:
    assert near_misses([key], prefix=PREFIX, names=SERVICE_ACCOUNT_ANNOTATIONS) == []


@pytest.mark.parametrize(
    ("key", "names", "found"),
    [
        ("eks.amazonaws.com/skip-container", POD_ANNOTATIONS, "skip-containers"),
        ("eks.amazonaws.com/skip_containers", POD_ANNOTATIONS, "skip-containers"),
        ("kubectl.kubernetes.io/default-container", POD_ANNOTATIONS, None),
        ("sidecar.istio.io/inject", POD_ANNOTATIONS, None),
        ("cluster-autoscaler.kubernetes.io/safe-to-evict", POD_ANNOTATIONS, None),
        ("eks.amazonaws.com/compute-type", POD_ANNOTATIONS, None),
        ("eks.amazonaws.com/skip-pod-identity", POD_LABELS, "skip-pod-identity-webhook"),
        ("skip-pod-identity-webhook", POD_LABELS, "skip-pod-identity-webhook"),
        ("eks.amazonaws.com/pod-identity", POD_LABELS, None),
        ("eks.amazonaws.com/fargate-profile", POD_LABELS, None),
        ("app.kubernetes.io/name", POD_LABELS, None),
    ],
)
def test_pod_annotation_and_label_typos(key: str, names: tuple[str, ...], found: str | None) -> None:
    expected = [] if found is None else [(key, f"{PREFIX}/{found}")]

    assert near_misses([key], prefix=PREFIX, names=names, known=WEBHOOK_LABELS) == expected
