"""`pod-identity-webhook inject`: the server's mutation applied offline to manifests, identical to the server's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest
import yaml

from tests.engine.support import container, pod
from tests.integration.conftest import ROLE_ARN
from tests.integration.server_process import EXIT_LIMIT_SECONDS, clean_environment
from tests.server.reviews import admission_review, decoded_patch
from tests.validation import assert_valid_pod

Json = dict[str, Any]
SERVER_FLAGS = ("--aws-default-region", "eu-west-1")
"""The mutation flags the `server` fixture runs with, so inject and the server can be compared."""


def template(*, namespace: str | None = None) -> Json:
    """A workload's pod template; with `namespace`, as the pod the controller creates from it."""
    metadata: Json = {"labels": {"app": "checkout"}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "metadata": metadata,
        "spec": {"serviceAccountName": "checkout", "containers": [container("app")]},
    }


POD = pod(container("app"), container("proxy"))
DEPLOYMENT: Json = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {"selector": {"matchLabels": {"app": "checkout"}}, "template": template()},
}
CRONJOB: Json = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "nightly", "namespace": "shop"},
    "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {
            "spec": {"template": {**template(), "spec": {**template()["spec"], "restartPolicy": "Never"}}}
        },
    },
}
CONFIGMAP: Json = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "shop"},
    "data": {"containers": "app", "serviceAccountName": "checkout"},
}
DOCUMENTS = [POD, DEPLOYMENT, CRONJOB, CONFIGMAP]


def run_inject(
    *args: str, manifests: str, executable: list[str], cwd: Path, service_account_file: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *executable,
            "inject",
            "-f",
            "-",
            "--service-account-file",
            str(service_account_file),
            *SERVER_FLAGS,
            *args,
        ],
        input=manifests,
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=EXIT_LIMIT_SECONDS,
    )


Inject = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def inject(webhook_executable: list[str], repo_root: Path, service_account_file: Path) -> Inject:
    def run(manifests: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_inject(
            *args,
            manifests=manifests,
            executable=webhook_executable,
            cwd=repo_root,
            service_account_file=service_account_file,
        )

    return run


def as_pod(pod_template: Json) -> Json:
    """A pod template as the Pod its controller would create, to validate it like one."""
    return {"apiVersion": "v1", "kind": "Pod", **pod_template}


def role_of(pod_like: Json) -> str:
    (value,) = [
        item["value"] for item in pod_like["spec"]["containers"][0]["env"] if item["name"] == "AWS_ROLE_ARN"
    ]
    return str(value)


def test_multi_document_yaml_keeps_order_and_mutates_every_pod(inject: Inject) -> None:
    result = inject(yaml.safe_dump_all(DOCUMENTS))

    pod_out, deployment_out, cronjob_out, configmap_out = yaml.safe_load_all(result.stdout)
    assert [pod_out["kind"], deployment_out["kind"], cronjob_out["kind"]] == ["Pod", "Deployment", "CronJob"]
    assert configmap_out == CONFIGMAP
    deployment_pod = as_pod(deployment_out["spec"]["template"])
    cronjob_pod = as_pod(cronjob_out["spec"]["jobTemplate"]["spec"]["template"])
    for mutated, original in (
        (pod_out, POD),
        (deployment_pod, as_pod(template())),
        (cronjob_pod, as_pod(CRONJOB["spec"]["jobTemplate"]["spec"]["template"])),
    ):
        assert role_of(mutated) == ROLE_ARN
        assert_valid_pod(mutated, original=original)
    assert deployment_out["spec"]["selector"] == DEPLOYMENT["spec"]["selector"]


def test_json_input_gives_json_output(inject: Inject) -> None:
    result = inject(json.dumps(POD))

    assert role_of(json.loads(result.stdout)) == ROLE_ARN


def test_unknown_serviceaccount_is_left_alone_with_a_warning(inject: Inject) -> None:
    stranger = pod(service_account="ghost")

    result = inject(json.dumps(stranger))

    assert json.loads(result.stdout) == stranger
    assert "ghost" in result.stderr


@pytest.mark.parametrize(
    ("document", "pointer", "pod_json"),
    [
        pytest.param(POD, "", POD, id="pod"),
        pytest.param(DEPLOYMENT, "/spec/template", as_pod(template(namespace="shop")), id="deployment"),
    ],
)
def test_patch_output_is_the_patch_the_server_sends(
    inject: Inject, client: httpx.Client, document: Json, pointer: str, pod_json: Json
) -> None:
    result = inject(yaml.safe_dump(document), "--output", "patch")

    (line,) = result.stdout.splitlines()
    offline = json.loads(line)["patch"]
    served = decoded_patch(client.post("/mutate", json=admission_review(pod_json)).json())
    assert served
    assert offline == [{**operation, "path": pointer + operation["path"]} for operation in served]


KUBECTL_LIST: Json = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                      "items": [CONFIGMAP, DEPLOYMENT]}  # fmt: skip
"""`kubectl get deploy,cm -n shop -o yaml`: the List names no namespace, its items do."""


def test_a_workload_in_a_kubectl_list_is_placed_and_patched_as_itself(inject: Inject) -> None:
    result = inject(yaml.safe_dump(KUBECTL_LIST), "--output", "patch")

    (line,) = result.stdout.splitlines()
    found = json.loads(line)
    assert {key: found[key] for key in ("document", "item", "kind", "namespace", "name")} == {
        "document": 0, "item": 1, "kind": "Deployment", "namespace": "shop", "name": "checkout",
    }  # fmt: skip
    patched = jsonpatch.apply_patch(
        DEPLOYMENT, found["patch"]
    )  # as `kubectl patch deploy checkout --type json`
    assert role_of(as_pod(patched["spec"]["template"])) == ROLE_ARN
    assert result.stderr == ""


def test_a_kubectl_list_comes_back_with_its_workloads_mutated(inject: Inject) -> None:
    result = inject(yaml.safe_dump(KUBECTL_LIST))

    (listed,) = yaml.safe_load_all(result.stdout)
    configmap, deployment = listed["items"]
    assert configmap == CONFIGMAP
    assert role_of(as_pod(deployment["spec"]["template"])) == ROLE_ARN
