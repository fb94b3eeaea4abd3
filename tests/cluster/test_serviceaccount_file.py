"""ServiceAccounts read from local files: every shape operators have, and errors that say where to look."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.cluster.support import ROLE, role_arn, service_account
from webhook.cluster.serviceaccount_file import FileServiceAccounts, load_service_account_annotations
from webhook.errors import ServiceAccountSourceError

MULTI_DOCUMENT = f"""\
# comments and empty documents are fine
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
  namespace: shop
  annotations:
    {ROLE}: {role_arn("reader")}
    eks.amazonaws.com/token-expiration: "3600"
    kubectl.kubernetes.io/last-applied-configuration: "{{}}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: not-a-serviceaccount
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: plain
"""


def load(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {
        key: dict(value)
        for key, value in load_service_account_annotations(path, prefix="eks.amazonaws.com").items()
    }


def test_multi_document_yaml_keeps_serviceaccounts_and_their_prefixed_annotations(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(MULTI_DOCUMENT)

    assert load(path) == {
        ("shop", "reader"): {ROLE: role_arn("reader"), "eks.amazonaws.com/token-expiration": "3600"},
        ("default", "plain"): {},
    }


@pytest.mark.parametrize("list_kind", ["List", "ServiceAccountList"])
def test_lists_as_kubectl_prints_them(tmp_path: Path, list_kind: str) -> None:
    items = [service_account("a", "one", role=role_arn("a")), service_account("b", "two")]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": list_kind, "items": items}))

    assert load(path) == {("one", "a"): {ROLE: role_arn("a")}, ("two", "b"): {}}


def test_a_directory_reads_yaml_yml_and_json_files_and_skips_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(json.dumps(service_account("a", role=role_arn("a"))))
    (tmp_path / "b.yml").write_text(json.dumps(service_account("b")))
    (tmp_path / "c.json").write_text(json.dumps(service_account("c")))
    (tmp_path / "notes.txt").write_text("not: [yaml")
    (tmp_path / ".hidden.yaml").write_text("not: [yaml")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "d.yaml").write_text(json.dumps(service_account("d")))

    assert set(load(tmp_path)) == {("default", "a"), ("default", "b"), ("default", "c")}


def test_the_later_of_two_definitions_wins(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    first, second = (
        service_account("app", role=role_arn("first")),
        service_account("app", role=role_arn("second")),
    )
    path.write_text(f"{json.dumps(first)}\n---\n{json.dumps(second)}\n")

    assert load(path) == {("default", "app"): {ROLE: role_arn("second")}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "kind: ServiceAccount\nmetadata: {name: a}\n---\nkind: [unclosed\n",
            r"accounts\.yaml, document 2: not valid YAML",
        ),
        (
            "kind: ServiceAccount\nmetadata: {name: a}\n---\n- just a list\n",
            r"accounts\.yaml, document 2: not a Kubernetes object",
        ),
        (
            "kind: ServiceAccount\nmetadata: {namespace: x}\n",
            r"accounts\.yaml, document 1: a ServiceAccount needs metadata\.name",
        ),
        ("kind: ServiceAccount\n", r"accounts\.yaml, document 1: a ServiceAccount needs metadata"),
        (
            "kind: ServiceAccount\nmetadata: {name: a, annotations: {eks.amazonaws.com/token-expiration: 3600}}\n",
            r"document 1: annotation eks\.amazonaws\.com/token-expiration must be a string.*quote it",
        ),
        (
            "kind: ServiceAccount\nmetadata: {name: a, annotations: {1: one}}\n",
            r"document 1: annotation name 1 must be a string.*quote it",
        ),
        (
            "kind: List\nitems:\n- kind: ServiceAccount\n  metadata: {}\n",
            r"accounts\.yaml, document 1, item 1: .*metadata\.name",
        ),
        (
            "kind: ServiceAccount\nmetadata: {name: ''}\n",
            r"document 1: a ServiceAccount needs metadata\.name",
        ),
        ("kind: List\nitems:\n- just a string\n", r"document 1, item 1: not a Kubernetes object"),
        ("[" * 100_000 + "]" * 100_000, r"accounts\.yaml, document 1: not valid YAML: nested too deeply"),
        (
            "kind: ServiceAccount\nspec: 1" + "0" * 5000 + "\n",
            r"accounts\.yaml, document 1: not valid YAML: .*4300",
        ),
    ],
)
def test_a_bad_file_names_the_file_and_the_document(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(content)

    with pytest.raises(ServiceAccountSourceError, match=message):
        load(path)


@pytest.mark.parametrize(
    "content",
    ['{"kind": "ServiceAccount",', "[" * 100_000 + "]" * 100_000, '{"spec": 1' + "0" * 5000 + "}"],
    ids=["unfinished", "nested-too-deeply", "integer-too-long"],
)
def test_bad_json_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(content)

    with pytest.raises(ServiceAccountSourceError, match=r"accounts\.json: not valid JSON"):
        load(path)


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceAccountSourceError, match=r"missing\.yaml: no such file"):
        load(tmp_path / "missing.yaml")


def test_file_source_is_synced_at_once_and_has_nothing_more_to_ask(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(MULTI_DOCUMENT)

    directory = FileServiceAccounts(path=path, annotation_prefix="eks.amazonaws.com")
    directory.start()

    assert directory.synced
    assert directory.cached("shop", "reader") == {
        ROLE: role_arn("reader"),
        "eks.amazonaws.com/token-expiration": "3600",
    }
    assert directory.cached("default", "plain") == {}
    assert directory.cached("default", "nobody") is None
    assert asyncio.run(directory.fetch("default", "nobody")) is None
    directory.stop()


def test_the_example_file_of_make_run_loads(repo_root: Path) -> None:
    accounts = load(repo_root / "examples" / "serviceaccounts.yaml")

    assert accounts[("default", "s3-reader")][ROLE].startswith("arn:aws:iam::")


def test_a_list_keeps_its_serviceaccounts_and_skips_other_kinds(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "kind: List\nitems:\n- {kind: ConfigMap, metadata: {name: settings}}\n"
        f"- {{kind: ServiceAccount, metadata: {{name: app, annotations: {{{ROLE}: {role_arn('app')}}}}}}}\n"
    )

    assert load(path) == {("default", "app"): {ROLE: role_arn("app")}}
