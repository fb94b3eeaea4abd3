"""What the README promises, checked on pods as the real API server stored them after calling our webhook.

The pod checks are the ones `tests/e2e/kind.sh` runs on a kind cluster (`tests/e2e/pod_assertions.py`).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.apiserver.cluster import Cluster, env_of, pod, unique_name
from tests.apiserver.webhook_process import WEBHOOK_NAMESPACE
from tests.e2e.pod_assertions import irsa_problems, untouched_problems

ROLE = "arn:aws:iam::111122223333:role/checkout"
REGION = "us-west-2"
"""The session webhook's --aws-default-region."""
SKIP_LABEL = "eks.amazonaws.com/skip-pod-identity-webhook"


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> str:
    name = cluster.namespace()
    cluster.service_account(name, "with-role", annotations={"eks.amazonaws.com/role-arn": ROLE})
    cluster.service_account(name, "without-role")
    return name


def test_a_pod_of_a_serviceaccount_with_a_role_is_stored_with_its_credentials(
    cluster: Cluster, namespace: str
) -> None:
    stored = cluster.create_pod(namespace, pod(service_account="with-role", containers=("app", "sidecar")))
    assert irsa_problems(stored, role_arn=ROLE, region=REGION) == []


def test_a_pod_of_a_serviceaccount_without_a_role_is_stored_as_sent(cluster: Cluster, namespace: str) -> None:
    stored = cluster.create_pod(namespace, pod(service_account="without-role"))
    assert untouched_problems(stored) == []


def test_init_containers_get_credentials_too(cluster: Cluster, namespace: str) -> None:
    stored = cluster.create_pod(namespace, pod(service_account="with-role", init_containers=("migrate",)))
    assert irsa_problems(stored, role_arn=ROLE, region=REGION) == []
    assert env_of(stored, "migrate")["AWS_ROLE_ARN"] == ROLE


def test_skip_containers_leaves_the_named_container_untouched(cluster: Cluster, namespace: str) -> None:
    stored = cluster.create_pod(
        namespace,
        pod(
            service_account="with-role",
            containers=("app", "proxy"),
            annotations={"eks.amazonaws.com/skip-containers": "proxy"},
        ),
    )
    assert irsa_problems(stored, role_arn=ROLE, region=REGION, skip=("proxy",)) == []
    assert "AWS_ROLE_ARN" not in env_of(stored, "proxy")


def test_a_pod_with_the_skip_label_is_stored_as_sent(cluster: Cluster, namespace: str) -> None:
    stored = cluster.create_pod(namespace, pod(service_account="with-role", labels={SKIP_LABEL: "true"}))
    assert untouched_problems(stored) == []


def test_the_webhooks_own_namespace_is_left_alone(cluster: Cluster) -> None:
    cluster.service_account(WEBHOOK_NAMESPACE, "has-role", annotations={"eks.amazonaws.com/role-arn": ROLE})
    stored = cluster.create_pod(WEBHOOK_NAMESPACE, pod(service_account="has-role"))
    assert untouched_problems(stored) == []


@pytest.mark.parametrize(
    ("annotations", "expected_env", "expected_token"),
    [
        pytest.param(
            {"eks.amazonaws.com/sts-regional-endpoints": "true"},
            {"AWS_STS_REGIONAL_ENDPOINTS": "regional"},
            {},
            id="regional-sts",
        ),
        pytest.param(
            {"eks.amazonaws.com/audience": "custom.example.com"},
            {},
            {"audience": "custom.example.com"},
            id="audience",
        ),
        pytest.param(
            {"eks.amazonaws.com/token-expiration": "3600"},
            {},
            {"expirationSeconds": 3600},
            id="token-expiration",
        ),
    ],
)
def test_serviceaccount_annotations_reach_the_stored_pod(
    cluster: Cluster,
    namespace: str,
    annotations: dict[str, str],
    expected_env: dict[str, str],
    expected_token: dict[str, Any],
) -> None:
    account = unique_name("annotated")
    cluster.service_account(
        namespace, account, annotations={"eks.amazonaws.com/role-arn": ROLE, **annotations}
    )
    stored = cluster.create_pod(namespace, pod(service_account=account))
    assert env_of(stored, "app").items() >= {"AWS_ROLE_ARN": ROLE, **expected_env}.items()
    assert _token_source(stored, "aws-iam-token").items() >= expected_token.items()


def test_a_pod_annotation_overrides_the_token_expiration(cluster: Cluster, namespace: str) -> None:
    stored = cluster.create_pod(
        namespace,
        pod(service_account="with-role", annotations={"eks.amazonaws.com/token-expiration": "7200"}),
    )
    assert _token_source(stored, "aws-iam-token")["expirationSeconds"] == 7200


def test_a_windows_pod_gets_the_windows_token_path(cluster: Cluster, namespace: str) -> None:
    stored = cluster.create_pod(
        namespace, pod(service_account="with-role", spec={"nodeSelector": {"kubernetes.io/os": "windows"}})
    )
    assert (
        env_of(stored, "app")["AWS_WEB_IDENTITY_TOKEN_FILE"]
        == "C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount\\token"
    )


def test_a_container_that_sets_its_own_region_keeps_it(cluster: Cluster, namespace: str) -> None:
    sent = pod(service_account="with-role")
    sent["spec"]["containers"][0]["env"] = [{"name": "AWS_REGION", "value": "eu-central-1"}]
    stored = cluster.create_pod(namespace, sent)
    environment = env_of(stored, "app")
    assert environment["AWS_REGION"] == "eu-central-1"
    assert "AWS_DEFAULT_REGION" not in environment
    assert environment["AWS_ROLE_ARN"] == ROLE


RICH_SPEC: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"}],
    "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
    "priority": 0,
    "terminationGracePeriodSeconds": 45,
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {}}
    ],
    "volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory"}}],
}


def test_nothing_the_api_server_adds_or_the_webhook_does_not_know_is_lost(
    cluster: Cluster, namespace: str
) -> None:
    """The same pod stored once through the webhook and once past it (skip label) differs only by what the
    webhook injects: the API server's own token volume and mounts and every other field survive."""
    sent = pod(service_account="with-role", spec=copy.deepcopy(RICH_SPEC), annotations={"team": "payments"})
    container = sent["spec"]["containers"][0]
    container |= {
        "args": ["--serve"],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": [{"name": "FROM_FIELD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        "resources": {"limits": {"memory": "64Mi"}},
    }
    untouched_copy = copy.deepcopy(sent)
    untouched_copy["metadata"]["name"] += "-skipped"
    untouched_copy["metadata"]["labels"] = {SKIP_LABEL: "true"}

    mutated = cluster.create_pod(namespace, sent)["spec"]
    untouched = cluster.create_pod(namespace, untouched_copy)["spec"]

    assert any(volume["name"].startswith("kube-api-access-") for volume in mutated["volumes"])
    assert _without_injections(mutated) == _without_injections(untouched)


def _without_injections(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec minus what the webhook injects, and minus the random suffix of the API server's own volume."""
    spec = copy.deepcopy(spec)
    spec["volumes"] = [_stable(volume) for volume in spec["volumes"] if volume["name"] != "aws-iam-token"]
    spec["volumes"].sort(key=lambda volume: volume["name"])
    for container in spec["containers"]:
        container["env"] = [item for item in container.get("env", ()) if not item["name"].startswith("AWS_")]
        container["volumeMounts"] = [
            _stable(mount) for mount in container["volumeMounts"] if mount["name"] != "aws-iam-token"
        ]
    return spec


def _stable(item: dict[str, Any]) -> dict[str, Any]:
    if item["name"].startswith("kube-api-access-"):
        return {**item, "name": "kube-api-access"}
    return item


def _token_source(stored: dict[str, Any], volume: str) -> dict[str, Any]:
    (found,) = [each for each in stored["spec"]["volumes"] if each["name"] == volume]
    (source,) = found["projected"]["sources"]
    token: dict[str, Any] = source["serviceAccountToken"]
    return token


def test_a_server_side_dry_run_shows_the_mutated_pod_and_stores_nothing(
    cluster: Cluster, namespace: str
) -> None:
    sent = pod(service_account="with-role")
    answered = cluster.create_pod(namespace, sent, dryRun="All")
    assert irsa_problems(answered, role_arn=ROLE, region=REGION) == []
    assert (
        cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{sent['metadata']['name']}").status_code
        == 404
    )
