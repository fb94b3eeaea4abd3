"""The real server reading ServiceAccounts and role mappings from a cluster: here the in-test API server
(tests/fake_apiserver.py), which speaks the real list/watch wire format, reached through a kubeconfig, or
through --kube-api as a manifest written for the reference webhook would start it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.support import apply, container, pod
from tests.fake_apiserver import FakeApiServer, fake_apiserver_fixture, fake_kubeconfig_fixture  # noqa: F401
from tests.integration.server_process import Certificates, RunningServer, start_server
from tests.server.reviews import admission_review, allowing_answer_patch, from_replicaset
from tests.validation import assert_valid_pod

NAMESPACE = "shop"
WEBHOOK_NAMESPACE = "pod-identity-webhook"
ANNOTATED_ROLE = "arn:aws:iam::111122223333:role/annotated"
MAPPED_ROLE = "arn:aws:iam::111122223333:role/mapped"
SETTLE_SECONDS = 30.0
"""A bound for a watch event to reach the server, not a measurement."""


def service_account(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def role_mappings(config: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "pod-identity-webhook", "namespace": WEBHOOK_NAMESPACE},
        "data": {"config": config},
    }


def command_line(
    how: str, *, fake_apiserver: FakeApiServer, kubeconfig: Path
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(subcommand, flags) that point the server at the in-test API server: our own command line, or the
    reference webhook's (flags alone, the server named by --kube-api, no kubeconfig)."""
    if how == "serve-with-kubeconfig":
        return ("serve",), (
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            WEBHOOK_NAMESPACE,
            "--watch-config-map",
        )
    return (), (
        "--in-cluster=false",
        f"--kube-api={fake_apiserver.url}",
        f"--namespace={WEBHOOK_NAMESPACE}",
        "--watch-config-map=true",
        "--logtostderr",
    )


@pytest.fixture(params=["serve-with-kubeconfig", "reference-with-kube-api"])
def cluster_server(
    request: pytest.FixtureRequest,
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    certificates: Certificates,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> Iterator[RunningServer]:
    fake_apiserver.apply(service_account("annotated", {"eks.amazonaws.com/role-arn": ANNOTATED_ROLE}))
    fake_apiserver.apply(service_account("plain"))
    command, flags = command_line(request.param, fake_apiserver=fake_apiserver, kubeconfig=fake_kubeconfig)
    server = start_server(
        executable=webhook_executable,
        cwd=repo_root,
        certificates=certificates,
        service_account_file=None,
        log=tmp_path / "serve.log",
        command=command,
        extra_args=flags,
    )
    yield server
    assert server.terminate() == 0


def role_of(client: httpx.Client, service_account_name: str) -> str | None:
    """The AWS_ROLE_ARN the webhook gives a Deployment's pod running as this ServiceAccount."""
    original = from_replicaset(pod(container("app"), service_account=service_account_name))
    original["metadata"]["namespace"] = NAMESPACE
    review = admission_review(original)
    patch = allowing_answer_patch(client.post("/mutate", json=review).json(), review=review)
    if not patch:
        return None
    patched = apply(original, patch)
    assert_valid_pod(patched, original=original)
    env: dict[str, str | None] = {
        entry["name"]: entry.get("value") for entry in patched["spec"]["containers"][0]["env"]
    }
    return env["AWS_ROLE_ARN"]


def eventually(check: Callable[[], object], expected: object) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while (actual := check()) != expected:
        assert time.monotonic() < deadline, f"still {actual!r}, expected {expected!r}"
        time.sleep(0.1)


def test_pod_gets_the_role_of_its_watched_serviceaccount(cluster_server: RunningServer) -> None:
    with cluster_server.client() as client:
        assert role_of(client, "annotated") == ANNOTATED_ROLE
        assert role_of(client, "plain") is None


def test_serviceaccount_created_with_its_pod_is_read_from_the_api(
    cluster_server: RunningServer, fake_apiserver: FakeApiServer
) -> None:
    with fake_apiserver.hold("watch"), cluster_server.client() as client:
        fake_apiserver.drop_watches()  # the watch cannot deliver it before the pod arrives
        fake_apiserver.apply(service_account("brand-new", {"eks.amazonaws.com/role-arn": ANNOTATED_ROLE}))

        assert role_of(client, "brand-new") == ANNOTATED_ROLE

    assert fake_apiserver.count("get", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/brand-new") >= 1


def test_annotation_change_reaches_new_pods_through_the_watch(
    cluster_server: RunningServer, fake_apiserver: FakeApiServer
) -> None:
    fake_apiserver.apply(service_account("plain", {"eks.amazonaws.com/role-arn": ANNOTATED_ROLE}))

    with cluster_server.client() as client:
        eventually(lambda: role_of(client, "plain"), ANNOTATED_ROLE)


def test_role_mappings_configmap_is_followed_until_deleted(
    cluster_server: RunningServer, fake_apiserver: FakeApiServer
) -> None:
    fake_apiserver.apply(role_mappings(f'{{"sh*/plain": {{"RoleARN": "{MAPPED_ROLE}"}}}}'))

    with cluster_server.client() as client:
        eventually(lambda: role_of(client, "plain"), MAPPED_ROLE)
        assert role_of(client, "annotated") == ANNOTATED_ROLE

        fake_apiserver.remove("v1", "ConfigMap", "pod-identity-webhook", WEBHOOK_NAMESPACE)

        eventually(lambda: role_of(client, "plain"), None)
