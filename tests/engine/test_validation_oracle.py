"""The checker every engine test relies on (`tests/validation.py`) must itself reject what the API server rejects."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.engine.support import container, empty_dir, pod
from tests.validation import assert_valid_pod

Json = dict[str, Any]


def token_volume(seconds: int) -> Json:
    token = {"audience": "sts.amazonaws.com", "expirationSeconds": seconds, "path": "token"}
    return {"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": token}]}}


def with_spec(change: Callable[[Json], None]) -> Json:
    result = pod(container("app", env={"A": "1"}, mounts={"data": "/data"}), volumes=[empty_dir("data")])
    change(result["spec"])
    return result


INVALID: dict[str, tuple[Json, str]] = {
    "duplicate-volume": (
        with_spec(lambda spec: spec["volumes"].append(empty_dir("data"))),
        "duplicate volume",
    ),
    "duplicate-container-across-init": (
        with_spec(lambda spec: spec.update(initContainers=[container("app")])),
        "duplicate container",
    ),
    "two-mounts-one-path": (
        with_spec(
            lambda spec: spec["containers"][0]["volumeMounts"].append({"name": "data", "mountPath": "/data/"})
        ),
        "two volumeMounts",
    ),
    "mount-of-unknown-volume": (
        with_spec(
            lambda spec: spec["containers"][0]["volumeMounts"].append({"name": "nope", "mountPath": "/n"})
        ),
        "unknown volume",
    ),
    "token-too-short": (
        with_spec(lambda spec: spec["volumes"].append(token_volume(599))),
        "expirationSeconds",
    ),
    "token-too-long": (
        with_spec(lambda spec: spec["volumes"].append(token_volume(2**32 + 1))),
        "expirationSeconds",
    ),
    "bad-env-name": (
        with_spec(lambda spec: spec["containers"][0]["env"].append({"name": "1ABC", "value": ""})),
        "not a valid variable name",
    ),
    "duplicate-env": (
        with_spec(lambda spec: spec["containers"][0]["env"].append({"name": "A", "value": "2"})),
        "duplicate env",
    ),
    "unknown-field": (
        with_spec(lambda spec: spec["containers"][0].update(colour="blue")),
        "'colour' was unexpected",
    ),
    "wrong-type": (with_spec(lambda spec: spec["containers"][0]["env"][0].update(value=1)), "is not of type"),
}


@pytest.mark.parametrize(("invalid", "reason"), INVALID.values(), ids=INVALID.keys())
def test_checker_rejects_what_the_api_server_rejects(invalid: Json, reason: str) -> None:
    with pytest.raises(AssertionError, match=reason):
        assert_valid_pod(invalid)


def test_checker_accepts_a_valid_pod_with_a_token_volume() -> None:
    assert_valid_pod(with_spec(lambda spec: spec["volumes"].append(token_volume(600))))


def test_duplicate_env_the_user_already_had_is_tolerated() -> None:
    original = with_spec(lambda spec: spec["containers"][0]["env"].append({"name": "A", "value": "2"}))
    patched = copy.deepcopy(original)
    patched["spec"]["containers"][0]["env"].append({"name": "B", "value": "3"})

    assert_valid_pod(patched, original=original)
