"""SPEC §3: the projected token volume and the read-only mounts of it."""

from __future__ import annotations

import pytest

from tests.engine.support import IRSA_MOUNT_PATH, container, empty_dir, inject, irsa, pod
from webhook.engine.settings import MutationSettings

TOKEN_MOUNT = {"name": "aws-iam-token", "mountPath": IRSA_MOUNT_PATH, "readOnly": True}


def test_token_volume_carries_audience_expiration_and_file_name() -> None:
    result = inject(pod(), irsa(audience="sts.example.com", token_expiration=3600))

    assert result.volume("aws-iam-token") == {
        "name": "aws-iam-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": "sts.example.com",
                        "expirationSeconds": 3600,
                        "path": "token",
                    }
                }
            ]
        },
    }


def test_token_volume_is_added_once_for_many_containers_before_existing_volumes() -> None:
    original = pod(
        container("a", mounts={"cache": "/cache"}),
        container("b"),
        init_containers=[container("c")],
        volumes=[empty_dir("cache")],
    )

    result = inject(original, irsa())

    assert [volume["name"] for volume in result.volumes()] == ["aws-iam-token", "cache"]
    assert result.mounts("a") == [{"name": "cache", "mountPath": "/cache"}, TOKEN_MOUNT]
    assert result.mounts("b") == [TOKEN_MOUNT]
    assert result.mounts("c") == [TOKEN_MOUNT]


def test_existing_volume_of_the_same_name_is_kept_as_is() -> None:
    own = {
        "name": "aws-iam-token",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"audience": "mine", "expirationSeconds": 7200, "path": "token"}}
            ]
        },
    }

    result = inject(pod(volumes=[own]), irsa())

    assert result.volumes() == [own]
    assert result.mounts() == [TOKEN_MOUNT]


def test_existing_mount_of_the_token_volume_is_kept_wherever_it_is() -> None:
    original = pod(
        container(mounts={"aws-iam-token": "/custom/token/dir"}), volumes=[empty_dir("aws-iam-token")]
    )

    result = inject(original, irsa())

    assert result.mounts() == [{"name": "aws-iam-token", "mountPath": "/custom/token/dir"}]
    assert result.env()["AWS_ROLE_ARN"]


@pytest.mark.parametrize(
    "conflicting_path", [IRSA_MOUNT_PATH, IRSA_MOUNT_PATH + "/"], ids=["same-path", "trailing-slash"]
)
def test_mount_path_taken_by_another_volume_skips_that_mount_with_a_warning(conflicting_path: str) -> None:
    original = pod(
        container("app", mounts={"my-secrets": conflicting_path}),
        container("worker"),
        volumes=[empty_dir("my-secrets")],
    )

    result = inject(original, irsa())

    assert result.mounts("app") == [{"name": "my-secrets", "mountPath": conflicting_path}]
    assert result.mounts("worker") == [TOKEN_MOUNT]
    assert any("'app'" in warning and IRSA_MOUNT_PATH in warning for warning in result.warnings)
    assert not any("worker" in warning for warning in result.warnings)


def test_a_token_mount_elsewhere_is_kept_and_its_volume_added_whatever_else_sits_at_the_path() -> None:
    mounts = {"aws-iam-token": "/custom/token/dir", "my-secrets": IRSA_MOUNT_PATH}
    original = pod(container(mounts=mounts), volumes=[empty_dir("my-secrets")])

    result = inject(original, irsa())

    assert [volume["name"] for volume in result.volumes()] == ["aws-iam-token", "my-secrets"]
    assert result.mounts() == original["spec"]["containers"][0]["volumeMounts"]
    assert result.warnings == ()


def test_a_mount_path_setting_ending_in_a_slash_still_finds_the_volume_at_that_path() -> None:
    settings = MutationSettings(token_mount_path="/var/run/secrets/irsa/")
    original = pod(
        container(mounts={"my-secrets": "/var/run/secrets/irsa"}), volumes=[empty_dir("my-secrets")]
    )

    result = inject(original, irsa(), settings)

    assert result.mounts() == [{"name": "my-secrets", "mountPath": "/var/run/secrets/irsa"}]
    assert result.warnings


def test_mount_path_conflict_in_the_only_container_still_adds_the_volume_as_the_reference_does() -> None:
    original = pod(container(mounts={"my-secrets": IRSA_MOUNT_PATH}), volumes=[empty_dir("my-secrets")])

    result = inject(original, irsa())

    assert [volume["name"] for volume in result.volumes()] == ["aws-iam-token", "my-secrets"]
    assert result.mounts() == [{"name": "my-secrets", "mountPath": IRSA_MOUNT_PATH}]
    assert result.warnings


def test_mount_below_the_token_path_is_not_a_conflict() -> None:
    original = pod(container(mounts={"nested": IRSA_MOUNT_PATH + "/extra"}), volumes=[empty_dir("nested")])

    result = inject(original, irsa())

    assert result.mounts() == [{"name": "nested", "mountPath": IRSA_MOUNT_PATH + "/extra"}, TOKEN_MOUNT]
    assert result.warnings == ()


def test_pod_without_volumes_or_mounts_arrays_gets_both() -> None:
    original = pod(container("a"), container("b"))
    assert "volumes" not in original["spec"]

    result = inject(original, irsa())

    assert [volume["name"] for volume in result.volumes()] == ["aws-iam-token"]
    assert result.mounts("a") == result.mounts("b") == [TOKEN_MOUNT]


def test_pod_with_empty_volumes_array_gets_appended_to() -> None:
    result = inject(pod(volumes=[]), irsa())

    assert [volume["name"] for volume in result.volumes()] == ["aws-iam-token"]
