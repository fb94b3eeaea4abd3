"""Identities that do not come from a ServiceAccount's own annotation: the Pod Identity associations file and
the role mappings ConfigMap, each changed while the webhook runs and followed by the next pod."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.apiserver.cluster import Cluster, Json, env_of, pod, unique_name, until_pods_show
from tests.apiserver.webhook_process import WEBHOOK_NAMESPACE, PodIdentityFile
from tests.e2e.pod_assertions import irsa_problems, pod_identity_problems, untouched_problems

MAPPINGS_PATH = f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}/configmaps/pod-identity-webhook"
ROLE = "arn:aws:iam::111122223333:role/annotated"


@pytest.fixture
def namespace(cluster: Cluster) -> str:
    return cluster.namespace()


@pytest.fixture
def mappings(cluster: Cluster) -> Iterator[None]:
    yield
    cluster.delete(MAPPINGS_PATH)


def _role_of(stored: Json) -> str | None:
    return env_of(stored, "app").get("AWS_ROLE_ARN")


def test_a_serviceaccount_in_the_associations_file_gets_pod_identity(
    cluster: Cluster, namespace: str, pod_identity_file: PodIdentityFile
) -> None:
    cluster.service_account(namespace, "agent", annotations={"eks.amazonaws.com/role-arn": ROLE})
    pod_identity_file.write([(namespace, "agent")])

    stored = until_pods_show(
        lambda: cluster.create_pod(namespace, pod(service_account="agent")),
        expected=lambda stored: "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env_of(stored, "app"),
    )
    assert pod_identity_problems(stored) == []


def test_removing_an_association_brings_back_the_role(
    cluster: Cluster, namespace: str, pod_identity_file: PodIdentityFile
) -> None:
    cluster.service_account(namespace, "agent", annotations={"eks.amazonaws.com/role-arn": ROLE})
    pod_identity_file.write([(namespace, "agent")])
    until_pods_show(
        lambda: cluster.create_pod(namespace, pod(service_account="agent")),
        expected=lambda stored: "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env_of(stored, "app"),
    )

    pod_identity_file.write([])

    stored = until_pods_show(
        lambda: cluster.create_pod(namespace, pod(service_account="agent")),
        expected=lambda stored: _role_of(stored) == ROLE,
    )
    assert irsa_problems(stored, role_arn=ROLE, region="us-west-2") == []


def _write_mappings(cluster: Cluster, mappings: dict[str, dict[str, object]]) -> None:
    cluster.config_map(WEBHOOK_NAMESPACE, "pod-identity-webhook", {"config": json.dumps(mappings)})


@pytest.mark.usefixtures("mappings")
def test_a_mappings_configmap_created_changed_and_deleted_through_the_api_is_followed(
    cluster: Cluster, namespace: str
) -> None:
    account = unique_name("mapped")
    cluster.service_account(namespace, account)
    first = "arn:aws:iam::111122223333:role/mapped-first"
    second = "arn:aws:iam::111122223333:role/mapped-second"

    def create() -> Json:
        return cluster.create_pod(namespace, pod(service_account=account))

    _write_mappings(cluster, {f"{namespace}/{account}": {"RoleARN": first, "TokenExpiration": 3600}})
    stored = until_pods_show(create, expected=lambda stored: _role_of(stored) == first)
    assert irsa_problems(stored, role_arn=first, region="us-west-2") == []

    _write_mappings(cluster, {f"{namespace[:3]}*/{account}": {"RoleARN": second}})
    until_pods_show(create, expected=lambda stored: _role_of(stored) == second)

    cluster.delete(MAPPINGS_PATH)
    stored = until_pods_show(create, expected=lambda stored: _role_of(stored) is None)
    assert untouched_problems(stored) == []


@pytest.mark.usefixtures("mappings")
def test_a_serviceaccounts_own_role_beats_a_mapping(cluster: Cluster, namespace: str) -> None:
    mapped = "arn:aws:iam::111122223333:role/mapped"
    cluster.service_account(namespace, "own", annotations={"eks.amazonaws.com/role-arn": ROLE})
    cluster.service_account(namespace, "mapped-only")
    _write_mappings(
        cluster, {f"{namespace}/own": {"RoleARN": mapped}, f"{namespace}/mapped-only": {"RoleARN": mapped}}
    )

    until_pods_show(
        lambda: cluster.create_pod(namespace, pod(service_account="mapped-only")),
        expected=lambda stored: _role_of(stored) == mapped,
    )
    assert _role_of(cluster.create_pod(namespace, pod(service_account="own"))) == ROLE
