"""`explain` reads what people have at hand and answers in words or JSON, with the server's own patch."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.tools.explain.conftest import Explain
from tests.tools.explain.support import (
    MOUNT_PATH,
    PREFIX,
    ROLE_ARN,
    container,
    pod,
    role_annotation,
    service_account,
)
from webhook.cli import main

WriteYaml = Callable[[str, Sequence[Any]], Path]


def workload(kind: str, template: dict[str, Any], *, namespace: str | None = "team-a") -> dict[str, Any]:
    """A workload of `kind` whose pod template is the metadata and spec of `template`."""
    pod_template = {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]}
    metadata: dict[str, Any] = {"name": "web", **({"namespace": namespace} if namespace else {})}
    if kind == "CronJob":
        spec: dict[str, Any] = {"schedule": "@hourly", "jobTemplate": {"spec": {"template": pod_template}}}
    else:
        spec = {"template": pod_template}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"])
def test_workload_pod_template_is_explained_in_the_workloads_namespace(
    kind: str, explain_json: Explain
) -> None:
    accounts = [service_account(role_annotation(), namespace="team-a")]

    (explanation,) = explain_json([workload(kind, pod(namespace=None))], service_accounts=accounts)

    assert (explanation["kind"], explanation["namespace"], explanation["name"]) == (kind, "team-a", "web")
    assert explanation["verdict"] == "mutated"


def test_kubectl_list_output_explains_every_pod(explain_json: Explain) -> None:
    pods = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [pod(name="one"), pod(name="two", service_account="ghost")],
    }

    explanations = explain_json([pods], service_accounts=[service_account(role_annotation())])

    assert [(item["name"], item["verdict"]) for item in explanations] == [
        ("one", "mutated"),
        ("two", "serviceaccount-not-found"),
    ]


@pytest.mark.parametrize(
    ("args", "namespace", "serviceaccount_names_it"),
    [
        ([], "default", True),
        (["--namespace", "team-b"], "team-b", True),
        ([], "default", False),
        (["--namespace", "team-b"], "team-b", False),
    ],
    ids=[
        "default",
        "flag",
        "default-serviceaccount-without-namespace",
        "flag-serviceaccount-without-namespace",
    ],
)
def test_pod_without_namespace_is_in_the_namespace_flag_and_so_is_its_serviceaccount(
    args: list[str], namespace: str, serviceaccount_names_it: bool, explain_json: Explain
) -> None:
    """`kubectl apply -n team-b -f app.yaml` puts the pod and its ServiceAccount in one namespace."""
    accounts = [service_account(role_annotation(), namespace=namespace if serviceaccount_names_it else None)]

    (explanation,) = explain_json([pod(namespace=None)], service_accounts=accounts, args=args)

    assert (explanation["namespace"], explanation["verdict"]) == (namespace, "mutated")


def test_explained_patch_is_the_one_inject_produces(
    write_yaml: WriteYaml, explain_json: Explain, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both subcommands run the server's engine, so they can never disagree."""
    manifest = pod(container("app"), container("envoy"), annotations={f"{PREFIX}/skip-containers": "envoy"})
    accounts = [service_account(role_annotation())]
    (explanation,) = explain_json(
        [manifest], service_accounts=accounts, args=["--aws-default-region", "eu-west-1"]
    )

    status = main(["inject", "-f", str(write_yaml("manifests.yaml", [manifest])), "-o", "patch",
                   "--service-account-file", str(write_yaml("serviceaccounts.yaml", accounts)),
                   "--aws-default-region", "eu-west-1"])  # fmt: skip

    assert status == 0
    injected = json.loads(capsys.readouterr().out)
    assert explanation["patch"] == injected["patch"]
    mutated = jsonpatch.apply_patch(manifest, explanation["patch"])
    env = {variable["name"]: variable["value"] for variable in mutated["spec"]["containers"][0]["env"]}
    added = {variable["name"]: variable["value"] for variable in explanation["containers"][0]["addedEnv"]}
    assert added == env
    assert "env" not in mutated["spec"]["containers"][1]


def test_text_output_says_per_container_what_is_added_and_why(
    write_yaml: WriteYaml, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = pod(container("app"), container("envoy"), annotations={f"{PREFIX}/skip-containers": "envoy"})
    accounts = write_yaml("serviceaccounts.yaml", [service_account(role_annotation())])

    status = main(
        ["explain", "-f", str(write_yaml("pod.yaml", [manifest])), "--service-account-file", str(accounts)]
    )

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0] == "Pod default/app (ServiceAccount app): will be changed"
    assert f"  IRSA: role {ROLE_ARN}, from the ServiceAccount's {PREFIX}/role-arn annotation" in lines[1]
    assert lines[lines.index("  container app:") + 1] == f"    adds AWS_ROLE_ARN={ROLE_ARN}"
    assert (
        "    mounts the aws-iam-token volume read-only at /var/run/secrets/eks.amazonaws.com/serviceaccount"
        in lines
    )
    assert lines[lines.index("  container envoy:") + 1] == (
        f"    left alone: named in the pod's {PREFIX}/skip-containers annotation"
    )
    assert any(line.startswith("  pod: adds the projected volume aws-iam-token") for line in lines)


@pytest.mark.parametrize("typo", [f"{PREFIX}/rolearn", "eks.amazon.com/role-arn"])
def test_text_output_names_the_typo_that_stopped_it(
    typo: str, write_yaml: WriteYaml, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = write_yaml("serviceaccounts.yaml", [service_account({typo: ROLE_ARN})])

    status = main(
        ["explain", "-f", str(write_yaml("pod.yaml", [pod()])), "--service-account-file", str(accounts)]
    )

    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "Pod default/app (ServiceAccount app): left unchanged",
        f"  ServiceAccount default/app has no {PREFIX}/role-arn annotation, no operator mapping and no Pod "
        "Identity association, so it has no AWS identity",
        f"  note: the ServiceAccount's annotation {typo} is not read: did you mean {PREFIX}/role-arn?",
    ]


def test_json_manifest_from_stdin_is_read(
    write_yaml: WriteYaml, webhook_executable: list[str], tmp_path: Path
) -> None:
    accounts = write_yaml("serviceaccounts.yaml", [service_account(role_annotation())])

    result = subprocess.run(
        [*webhook_executable, "explain", "-f", "-", "--service-account-file", str(accounts), "-o", "json"],
        input=json.dumps(pod()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["verdict"] == "mutated"


@pytest.fixture
def files(write_yaml: WriteYaml, tmp_path: Path) -> dict[str, Path]:
    """Input files, good and bad, by name."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\nspec: [unclosed\n")
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    return {
        "config_map": write_yaml("configmap.yaml", [config_map]),
        "pod": write_yaml("pod.yaml", [pod()]),
        "bad_pod": write_yaml("bad.yaml", [{"kind": "Pod", "spec": {"containers": "app"}}]),
        "accounts": write_yaml("serviceaccounts.yaml", [service_account()]),
        "broken": broken,
        "missing": tmp_path / "missing.yaml",
    }


@pytest.mark.parametrize(
    ("manifests", "accounts", "message"),
    [
        ("{config_map}", "{accounts}", "no Pod or pod template found"),
        ("{missing}", "{accounts}", "cannot read"),
        ("{broken}", "{accounts}", "document 1: not valid YAML"),
        ("{pod}", "{missing}", "no such file or directory"),
        ("{bad_pod}", "{accounts}", "is malformed"),
    ],
    ids=[
        "no pod in the file",
        "unreadable manifest",
        "broken YAML",
        "missing ServiceAccount file",
        "bad pod",
    ],
)
def test_explain_errors_are_one_line(
    manifests: str, accounts: str, message: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["explain", "-f", manifests.format(**files), "--service-account-file", accounts.format(**files)]
    )

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert message in error


def test_pod_changes_name_only_what_is_added_and_describe_the_token(explain_json: Explain) -> None:
    manifest = pod(labels={"app": "web"})
    manifest["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]

    (explanation,) = explain_json([manifest], service_accounts=[service_account(role_annotation())])

    assert explanation["podChanges"] == [
        "adds the projected volume aws-iam-token: a ServiceAccount token for audience sts.amazonaws.com, "
        "valid 86400s, in file token"
    ]
    assert not any("adds no credentials" in reason for reason in explanation["containers"][0]["reasons"])


def test_a_container_that_only_gets_the_token_mount_is_changed_and_keeps_its_credentials(
    explain_json: Explain,
) -> None:
    own = container("app", AWS_ROLE_ARN=ROLE_ARN)
    manifest = pod(own, init_containers=(container("init", AWS_ROLE_ARN=ROLE_ARN),))

    (explanation,) = explain_json([manifest], service_accounts=[service_account(role_annotation())])

    for explained in explanation["containers"]:
        assert explained["changed"] is True
        assert any(
            "adds no credentials: its env already sets AWS_ROLE_ARN" in r for r in explained["reasons"]
        )


@pytest.mark.parametrize(
    ("pod_annotations", "sa_annotations", "note", "present"),
    [
        pytest.param({f"{PREFIX}/skip-containers": "init"}, {}, "which is not a container", False,
                     id="skip-containers-naming-an-init-container"),
        pytest.param({f"{PREFIX}/role-arn": "s3-reader"}, {}, "a role on the pod is ignored", True,
                     id="role-key-on-the-pod-without-an-arn"),
        pytest.param({"example.com/iam-role": f" {ROLE_ARN}"}, {}, "a role on the pod is ignored", True,
                     id="padded-arn-on-the-pod"),
        pytest.param({}, {"example.com/iam-role": f" {ROLE_ARN}"}, "holds a role ARN", True,
                     id="padded-arn-on-the-serviceaccount"),
    ],
)  # fmt: skip
def test_notes_point_at_roles_in_the_wrong_place_and_only_there(
    explain_json: Explain,
    pod_annotations: dict[str, str],
    sa_annotations: dict[str, str],
    note: str,
    present: bool,
) -> None:
    manifest = pod(annotations=pod_annotations, init_containers=(container("init"),))

    (explanation,) = explain_json([manifest], service_accounts=[service_account(sa_annotations)])

    assert any(note in text for text in explanation["notes"]) is present


def test_a_container_already_mounting_the_token_volume_is_told_so(explain_json: Explain) -> None:
    mounted = {**container("app"), "volumeMounts": [{"name": "aws-iam-token", "mountPath": MOUNT_PATH}]}

    (explanation,) = explain_json([pod(mounted)], service_accounts=[service_account(role_annotation())])

    (explained,) = explanation["containers"]
    assert any("already mounts the aws-iam-token volume" in reason for reason in explained["reasons"])
    assert not any("another volume" in reason for reason in explained["reasons"])
