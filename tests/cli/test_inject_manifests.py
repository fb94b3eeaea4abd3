"""`inject` and `explain` read manifests as kubectl writes them, and inject's output means to kubectl what
its input meant."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.support import ROLE_ARN, container, pod
from tests.validation import assert_valid_pod
from webhook.cli import main

Json = dict[str, Any]
ACCOUNTS = f"""\
apiVersion: v1
kind: ServiceAccount
metadata: {{name: checkout, namespace: shop, annotations: {{eks.amazonaws.com/role-arn: "{ROLE_ARN}"}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: other, namespace: shop, annotations: {{eks.amazonaws.com/role-arn: "{ROLE_ARN}-other"}}}}
"""


@pytest.fixture
def accounts(tmp_path: Path) -> Path:
    path = tmp_path / "serviceaccounts.yaml"
    path.write_text(ACCOUNTS)
    return path


def inject(
    tmp_path: Path, manifest: str | bytes, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    path = tmp_path / "manifest"
    if isinstance(manifest, str):
        path.write_text(manifest)
    else:
        path.write_bytes(manifest)
    status = main(["inject", "-f", str(path), "--namespace", "shop", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def named_pod(name: str) -> Json:
    result = pod()
    result["metadata"]["name"] = name
    return result


def json_stream(text: str) -> list[Any]:
    """Every JSON value in `text`, one after another, as `jq` reads them."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


def env_of(pod_like: Json, index: int = 0) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in pod_like["spec"]["containers"][index]["env"]}


ANCHORED_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: shop}
spec:
  serviceAccountName: checkout
  containers:
  - name: app
    image: app
    env: &env [{name: MODE, value: fast}]
    volumeMounts: &mounts [{name: data, mountPath: /data}]
  - name: proxy
    image: proxy
    env: *env
    volumeMounts: *mounts
  volumes: [{name: data, emptyDir: {}}]
"""


def test_containers_sharing_a_yaml_anchor_are_each_mutated_once(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = inject(tmp_path, ANCHORED_POD, "--service-account-file", str(accounts), capsys=capsys)

    mutated = yaml.safe_load(out)
    assert status == 0
    for index in (0, 1):
        names = [item["name"] for item in mutated["spec"]["containers"][index]["env"]]
        assert names.count("AWS_ROLE_ARN") == 1
        assert env_of(mutated, index)["AWS_ROLE_ARN"] == ROLE_ARN
    assert_valid_pod(mutated, original=yaml.safe_load(ANCHORED_POD))


ANCHORED_WORKLOADS = """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: one, namespace: shop}
  spec:
    selector: {matchLabels: {app: one}}
    template:
      metadata: {labels: {app: one}}
      spec:
        serviceAccountName: checkout
        containers: &containers [{name: app, image: app}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: two, namespace: shop}
  spec:
    selector: {matchLabels: {app: two}}
    template:
      metadata: {labels: {app: two}}
      spec:
        serviceAccountName: other
        containers: *containers
"""


def test_workloads_sharing_a_yaml_anchor_each_get_their_own_role(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = inject(tmp_path, ANCHORED_WORKLOADS, "--service-account-file", str(accounts), capsys=capsys)

    one, two = yaml.safe_load(out)["items"]
    assert env_of(one["spec"]["template"])["AWS_ROLE_ARN"] == ROLE_ARN
    assert env_of(two["spec"]["template"])["AWS_ROLE_ARN"] == f"{ROLE_ARN}-other"


KUBECTL_READS_AS_ANOTHER_TYPE = ["y", "N", "1e3", "1E3", "1e-3", "+1e3", "1.5e3", "1234e56", ".5", "0o17",
                                 "0X1F", "0B101", "yes", "off", "0x1f", "1_000", "null", "~", "12:30"]  # fmt: skip
"""Strings go-yaml (kubectl) or YAML 1.2 would read as booleans, numbers or null if written plain."""


def scalar_styles(text: str, key: str) -> dict[str, str | None]:
    """The YAML style (None: plain) of every scalar under `key` in `text`, by its value."""
    styles: dict[str, str | None] = {}

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for name, value in node.value:
                if name.value == key and isinstance(value, yaml.ScalarNode):
                    styles[value.value] = value.style
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    for document in yaml.compose_all(text):
        walk(document)
    return styles


def test_strings_kubectl_would_misread_are_quoted_and_others_stay_plain(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = [*KUBECTL_READS_AS_ANOTHER_TYPE, "fast", "v1.2.3", "1.2.3.4"]
    manifest = pod(
        container("app", env=[{"name": f"V{i}", "value": value} for i, value in enumerate(values)])
    )

    _, out, _ = inject(
        tmp_path, yaml.safe_dump(manifest), "--service-account-file", str(accounts), capsys=capsys
    )

    styles = scalar_styles(out, "value")
    assert {value: styles[value] for value in KUBECTL_READS_AS_ANOTHER_TYPE if styles[value] is None} == {}
    assert [styles["fast"], styles["v1.2.3"], styles["1.2.3.4"]] == [None, None, None]
    assert env_of(yaml.safe_load(out))["V2"] == "1e3"


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(
            json.dumps(named_pod("first")) + "\n" + json.dumps(named_pod("second")), id="json-stream"
        ),
        pytest.param("{" + yaml.safe_dump(pod(), default_flow_style=True)[1:], id="yaml-flow-style"),
        pytest.param("\ufeff" + json.dumps(pod()), id="json-after-a-byte-order-mark"),
    ],
)
def test_input_kubectl_accepts_is_read(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str], manifest: str
) -> None:
    status, out, err = inject(tmp_path, manifest, "--service-account-file", str(accounts), capsys=capsys)

    assert (status, err) == (0, "")
    assert "AWS_ROLE_ARN" in out


def test_a_json_stream_comes_back_as_a_json_stream(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = json.dumps(named_pod("first")) + "\n" + json.dumps(named_pod("second"))

    _, out, _ = inject(tmp_path, stream, "--service-account-file", str(accounts), capsys=capsys)

    documents = json_stream(out)
    assert [document["metadata"]["name"] for document in documents] == ["first", "second"]
    assert all(env_of(document)["AWS_ROLE_ARN"] == ROLE_ARN for document in documents)


def test_patch_lines_count_documents_as_the_input_has_them(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    helm_template = "---\n# Source: chart/templates/empty.yaml\n---\n" + yaml.safe_dump(pod())

    _, out, _ = inject(
        tmp_path, helm_template, "--service-account-file", str(accounts), "-o", "patch", capsys=capsys
    )

    assert json.loads(out)["document"] == 1


def test_a_workload_places_its_pods_in_its_own_namespace_whatever_the_template_says(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = {"metadata": {"namespace": "elsewhere", "labels": {"app": "a"}}, "spec": pod()["spec"]}
    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "shop"},
                 "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template}}  # fmt: skip

    _, out, err = inject(
        tmp_path, yaml.safe_dump(daemonset), "--service-account-file", str(accounts), capsys=capsys
    )

    assert env_of(yaml.safe_load(out)["spec"]["template"])["AWS_ROLE_ARN"] == ROLE_ARN
    assert err == ""


def test_without_a_serviceaccount_file_the_warning_says_none_was_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = inject(tmp_path, yaml.safe_dump(pod()), capsys=capsys)

    assert "no ServiceAccount file given" in err
    assert "is not in the ServiceAccount file" not in err


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
"""Nine lines whose aliases expand to a billion nodes."""


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        pytest.param(b'kind: ConfigMap\ndata: {a: "\xe9"}\n', "not UTF-8 text", id="latin-1-bytes"),
        pytest.param(
            "a: 1\n---\nkind: [unclosed\n", "document 2: not valid YAML", id="broken-second-document"
        ),
        pytest.param("[" * 100_000, "nested too deeply at line 1", id="deep-flow-nesting"),
        pytest.param(
            "".join(f"{' ' * depth}a{depth}:\n" for depth in range(5_000)) + " " * 5_000 + "b: 1\n",
            "nested too deeply",
            id="deep-block-nesting",
        ),
        pytest.param(BILLION_LAUGHS, "aliases expand to more nodes", id="billion-laughs"),
    ],
)
def test_unreadable_manifests_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: str | bytes, message: str
) -> None:
    status, _, err = inject(tmp_path, manifest, capsys=capsys)

    assert status == 1
    assert err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize(
    ("config_map", "message"),
    [
        pytest.param(
            {"kind": "ConfigMap", "data": {"config": {"shop/checkout": {}}}},
            "must be a string",
            id="config-as-a-mapping",
        ),
        pytest.param({"kind": "ConfigMap", "data": ["config"]}, "must be a string", id="data-as-a-list"),
    ],
)
def test_a_mappings_configmap_of_the_wrong_shape_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_map: Json, message: str
) -> None:
    path = tmp_path / "configmap.yaml"
    path.write_text(yaml.safe_dump(config_map))

    status, _, err = inject(tmp_path, yaml.safe_dump(pod()), "--config-map-file", str(path), capsys=capsys)

    assert status == 1
    assert err.count("\n") == 1
    assert message in err


def test_the_mappings_configmap_is_found_among_a_charts_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = [
        {"kind": "ConfigMap", "metadata": {"name": "unrelated"}, "data": {"config": "not json"}},
        {"kind": "ConfigMap", "metadata": {"name": "pod-identity-webhook"},
         "data": {"config": json.dumps({"shop/checkout": {"RoleARN": ROLE_ARN}})}},
    ]  # fmt: skip
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(chart))

    _, out, _ = inject(tmp_path, yaml.safe_dump(pod()), "--config-map-file", str(path), capsys=capsys)

    assert env_of(yaml.safe_load(out))["AWS_ROLE_ARN"] == ROLE_ARN


def test_a_reader_that_stops_early_ends_the_command_quietly(
    tmp_path: Path, accounts: Path, webhook_executable: list[str]
) -> None:
    manifest = tmp_path / "many.yaml"
    manifest.write_text(yaml.safe_dump_all([named_pod(f"app-{index}") for index in range(2000)]))
    command = [*webhook_executable, "explain", "-f", str(manifest), "--service-account-file", str(accounts)]

    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # as `| head` does once it has what it wants
        error = process.stderr.read().decode()
        status = process.wait(timeout=60)

    assert status == 141
    assert error == ""


def mappings_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "mappings.yaml"
    path.write_text(content)
    return path


MAPPED = {"shop/checkout": {"RoleARN": f"{ROLE_ARN}-mapped"}}
MAPPINGS_CONFIG_MAP = {"kind": "ConfigMap", "metadata": {"name": "pod-identity-webhook"},
                       "data": {"config": json.dumps(MAPPED)}}  # fmt: skip


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(json.dumps(MAPPED), id="the-bare-config-json"),
        pytest.param(yaml.safe_dump(MAPPINGS_CONFIG_MAP), id="the-configmap"),
        pytest.param(yaml.safe_dump_all([[1, 2], MAPPINGS_CONFIG_MAP]), id="after-a-document-that-is-a-list"),
    ],
)
def test_a_mappings_file_gives_its_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = mappings_file(tmp_path, content)

    status, out, _ = inject(tmp_path, yaml.safe_dump(pod()), "--config-map-file", str(path), capsys=capsys)

    assert status == 0
    assert env_of(yaml.safe_load(out))["AWS_ROLE_ARN"] == f"{ROLE_ARN}-mapped"


def test_a_mappings_configmap_without_data_maps_nothing(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mappings_file(
        tmp_path, yaml.safe_dump({"kind": "ConfigMap", "metadata": {"name": "pod-identity-webhook"}})
    )

    status, out, _ = inject(tmp_path, yaml.safe_dump(pod()), "--config-map-file", str(path),
                            "--service-account-file", str(accounts), capsys=capsys)  # fmt: skip

    assert status == 0
    assert env_of(yaml.safe_load(out))["AWS_ROLE_ARN"] == ROLE_ARN


def test_a_template_with_its_own_name_is_reported_by_that_name(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = {"metadata": {"name": "from-template", "labels": {"app": "a"}}, "spec": pod()["spec"]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                  "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template}}  # fmt: skip

    _, out, _ = inject(tmp_path, yaml.safe_dump(deployment), "--service-account-file", str(accounts), "-o", "patch",
                       capsys=capsys)  # fmt: skip

    assert json.loads(out)["name"] == "from-template"


def test_a_serviceaccount_in_the_file_without_a_role_is_not_called_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "serviceaccounts.yaml"
    path.write_text(
        yaml.safe_dump({"kind": "ServiceAccount", "metadata": {"name": "checkout", "namespace": "shop"}})
    )

    status, out, err = inject(
        tmp_path, yaml.safe_dump(pod()), "--service-account-file", str(path), capsys=capsys
    )

    assert (status, err) == (0, "")
    assert yaml.safe_load(out) == pod()


def test_a_list_without_items_passes_through(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": None}

    status, out, _ = inject(
        tmp_path, yaml.safe_dump(listed), "--service-account-file", str(accounts), capsys=capsys
    )

    assert (status, yaml.safe_load(out)) == (0, listed)


def test_a_json_array_of_pods_comes_back_as_an_array_of_mutated_pods(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pods = [named_pod("first"), named_pod("second")]

    _, out, _ = inject(tmp_path, json.dumps(pods), "--service-account-file", str(accounts), capsys=capsys)

    written = json.loads(out)
    assert [item["metadata"]["name"] for item in written] == ["first", "second"]
    assert all(env_of(item)["AWS_ROLE_ARN"] == ROLE_ARN for item in written)


def test_a_stream_of_json_arrays_keeps_every_document(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = json.dumps([1, 2]) + "\n" + json.dumps([3])

    _, out, _ = inject(tmp_path, stream, "--service-account-file", str(accounts), capsys=capsys)

    assert json_stream(out) == [[1, 2], [3]]


def test_yaml_output_keeps_the_order_of_keys_as_written(
    tmp_path: Path, accounts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = "kind: Pod\napiVersion: v1\nmetadata: {namespace: shop, name: z}\nspec:\n  serviceAccountName: checkout\n  containers: [{name: app, image: app}]\n"

    _, out, _ = inject(tmp_path, manifest, "--service-account-file", str(accounts), capsys=capsys)

    mutated = yaml.safe_load(out)
    assert list(mutated) == ["kind", "apiVersion", "metadata", "spec"]
    assert list(mutated["metadata"]) == ["namespace", "name"]
    assert list(mutated["spec"])[:2] == ["serviceAccountName", "containers"]
