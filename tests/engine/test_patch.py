"""SPEC §2-§3: the shape of the patch: skip label, no-op, idempotence, granular operations, unknown fields."""

from __future__ import annotations

import copy
from typing import Any

import jsonpointer
import pytest

from tests.engine.support import (
    IRSA_MOUNT_PATH,
    NATIVE_SIDECAR_VERSIONS,
    ROLE_ARN,
    admit,
    apply,
    container,
    empty_dir,
    inject,
    irsa,
    pod,
    pod_identity,
    role_annotations,
)
from tests.validation import assert_valid_pod
from webhook.engine.identity import Identity
from webhook.engine.mutation import MountOutcome, Skip, mutate
from webhook.engine.pod_view import pod_from_object
from webhook.engine.settings import MutationSettings

REGION = MutationSettings(aws_default_region="eu-west-1")


@pytest.mark.parametrize("value", ["true", "false", "", "anything"])
def test_skip_label_with_any_value_leaves_the_pod_alone(value: str) -> None:
    original = pod(labels={"eks.amazonaws.com/skip-pod-identity-webhook": value})

    result = inject(original, irsa())

    assert result.patch == []
    assert result.mutation is not None and result.mutation.pod_skipped


def test_skip_annotation_is_not_the_skip_label() -> None:
    original = pod(annotations={"eks.amazonaws.com/skip-pod-identity-webhook": "true"})

    assert inject(original, irsa()).changed


SCENARIOS = {
    "plain": (pod(), irsa(), MutationSettings()),
    "everything-irsa": (pod(container("a"), container("b")), irsa(regional_sts=True), REGION),
    "pod-identity": (pod(labels={"app": "x"}), pod_identity(regional_sts=True), REGION),
    "init-and-sidecar": (
        pod(init_containers=[container("init"), container("mesh", restartPolicy="Always")]),
        irsa(),
        MutationSettings(),
    ),
    "mount-conflict": (
        pod(container(mounts={"mine": IRSA_MOUNT_PATH}), container("other"), volumes=[empty_dir("mine")]),
        irsa(),
        MutationSettings(),
    ),
    "user-pair": (
        pod(container(env={"AWS_ROLE_ARN": "arn:aws:iam::1:role/x"})),
        irsa(regional_sts=True),
        REGION,
    ),
    "windows": (pod(nodeSelector={"kubernetes.io/os": "windows"}), irsa(), MutationSettings()),
    "skip-containers": (
        pod(container("a"), container("b"), annotations={"eks.amazonaws.com/skip-containers": "b"}),
        irsa(),
        MutationSettings(),
    ),
}


@pytest.mark.parametrize(("original", "identity", "settings"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_mutating_the_mutated_pod_again_changes_nothing(
    original: dict[str, Any], identity: Identity, settings: MutationSettings
) -> None:
    first = inject(original, identity, settings, versions=NATIVE_SIDECAR_VERSIONS)
    assert first.changed

    second = inject(first.pod, identity, settings, versions=NATIVE_SIDECAR_VERSIONS)

    assert second.patch == []


@pytest.mark.parametrize(("original", "identity", "settings"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_patch_only_adds_granular_entries_never_whole_arrays_of_existing_things(
    original: dict[str, Any], identity: Identity, settings: MutationSettings
) -> None:
    result = inject(original, identity, settings, versions=NATIVE_SIDECAR_VERSIONS)

    assert {operation["op"] for operation in result.patch} == {"add"}
    for operation in result.patch:
        inserts = operation["path"].endswith("/-") or operation["path"] == "/spec/volumes/0"
        assert inserts or _missing(original, operation["path"]), f"{operation} overwrites existing data"


def _missing(document: dict[str, Any], pointer: str) -> bool:
    absent = object()
    return jsonpointer.resolve_pointer(document, pointer, absent) is absent


def test_unknown_fields_at_every_level_survive_the_patch() -> None:
    original = pod(
        container("app", env={"A": "1"}, mounts={"data": "/data"}),
        init_containers=[container("init")],
        volumes=[empty_dir("data")],
        labels={"app": "checkout"},
    )
    made_up = {"x-future": {"nested": [1, "two", None]}}
    original.update(made_up)
    original["metadata"].update(made_up)
    original["spec"].update(made_up)
    for node in (
        original["spec"]["containers"][0],
        original["spec"]["initContainers"][0],
        original["spec"]["containers"][0]["env"][0],
        original["spec"]["containers"][0]["volumeMounts"][0],
        original["spec"]["volumes"][0],
    ):
        node.update(made_up)
    kept = copy.deepcopy(original)
    mutation = mutate(pod_from_object(original), irsa(), REGION)

    patched = apply(original, mutation.patch)

    assert original == kept
    for path in (
        (),
        ("metadata",),
        ("spec",),
        ("spec", "containers", 0),
        ("spec", "initContainers", 0),
        ("spec", "containers", 0, "env", 0),
        ("spec", "containers", 0, "volumeMounts", 0),
        ("spec", "volumes", 1),
    ):
        assert _at(patched, path)["x-future"] == made_up["x-future"], f"lost at {path}"
    assert_valid_pod(_without(patched, "x-future"), original=_without(original, "x-future"))
    assert mutate(pod_from_object(patched), irsa(), REGION).patch == []


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def _without(document: Any, key: str) -> Any:
    if isinstance(document, dict):
        return {name: _without(value, key) for name, value in document.items() if name != key}
    if isinstance(document, list):
        return [_without(item, key) for item in document]
    return document


def test_pod_from_a_deployment_with_only_generate_name_is_mutated() -> None:
    original = pod()
    del original["metadata"]["name"]
    original["metadata"]["generateName"] = "checkout-7d9f8c-"

    result = admit(original, annotations=role_annotations())

    assert result.env()["AWS_ROLE_ARN"] == ROLE_ARN
    assert "name" not in result.pod["metadata"]


def test_container_outcomes_say_what_happened() -> None:
    original = pod(
        container("app"),
        container("skipped"),
        container("conflict", mounts={"mine": IRSA_MOUNT_PATH}),
        annotations={"eks.amazonaws.com/skip-containers": "skipped"},
        volumes=[empty_dir("mine")],
    )

    result = inject(original, irsa())

    assert result.mutation is not None
    outcomes = {outcome.name: outcome for outcome in result.mutation.containers}
    assert outcomes["app"].added_env == ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
    assert outcomes["app"].mount is MountOutcome.ADDED
    assert outcomes["skipped"].skipped is Skip.SKIP_CONTAINERS
    assert outcomes["conflict"].mount is MountOutcome.PATH_CONFLICT


@pytest.mark.parametrize(
    "text", ['role/with "quotes"', "role/back\\slash", "rôle/ünïcode-日本", "role/\u2028line-separator"]
)
def test_values_that_need_json_escaping_arrive_exactly(text: str) -> None:
    """The patch is joined from pre-encoded fragments: every value in it must still be escaped right."""
    role_arn = f"arn:aws:iam::111122223333:{text}"
    settings = MutationSettings(aws_default_region=text)

    result = inject(pod(), irsa(role_arn=role_arn, audience=text), settings)

    environment = {
        variable["name"]: variable["value"] for variable in result.pod["spec"]["containers"][0]["env"]
    }
    assert environment["AWS_ROLE_ARN"] == role_arn
    assert environment["AWS_REGION"] == text
    token = result.pod["spec"]["volumes"][-1]["projected"]["sources"][0]["serviceAccountToken"]
    assert token["audience"] == text
