"""SPEC §3: which environment variables each container gets, in which order, and when none are added."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.support import IRSA_TOKEN_FILE, ROLE_ARN, container, inject, irsa, pod
from webhook.engine.settings import MutationSettings

REGION = MutationSettings(aws_default_region="eu-west-1")
SECRET_REF = {"valueFrom": {"secretKeyRef": {"name": "creds", "key": "role"}}}


def test_env_is_appended_after_existing_env_in_spec_order() -> None:
    user_env = {"LOG_LEVEL": "debug", "PORT": "8080"}

    result = inject(pod(container(env=user_env)), irsa(regional_sts=True), REGION)

    assert list(result.env().items()) == [
        ("LOG_LEVEL", "debug"),
        ("PORT", "8080"),
        ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ROLE_ARN", ROLE_ARN),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", IRSA_TOKEN_FILE),
    ]


@pytest.mark.parametrize(
    ("configured_region", "user_env", "expected_region_env"),
    [
        pytest.param("", {}, {}, id="no-region-configured"),
        pytest.param(
            "eu-west-1", {}, {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1"}, id="neither-set"
        ),
        pytest.param(
            "eu-west-1", {"AWS_REGION": "us-east-2"}, {"AWS_REGION": "us-east-2"}, id="aws-region-set"
        ),
        pytest.param(
            "eu-west-1",
            {"AWS_DEFAULT_REGION": "us-east-2"},
            {"AWS_DEFAULT_REGION": "us-east-2"},
            id="default-region-set",
        ),
        pytest.param(
            "eu-west-1",
            {"AWS_DEFAULT_REGION": "us-east-2", "AWS_REGION": "ap-south-1"},
            {"AWS_DEFAULT_REGION": "us-east-2", "AWS_REGION": "ap-south-1"},
            id="both-set",
        ),
    ],
)
def test_region_is_injected_only_when_configured_and_neither_key_is_set(
    configured_region: str, user_env: dict[str, str], expected_region_env: dict[str, str]
) -> None:
    result = inject(
        pod(container(env=user_env)), irsa(), MutationSettings(aws_default_region=configured_region)
    )

    region_env = {
        key: value for key, value in result.env().items() if key in ("AWS_REGION", "AWS_DEFAULT_REGION")
    }
    assert region_env == expected_region_env
    assert result.env()["AWS_ROLE_ARN"] == ROLE_ARN


@pytest.mark.parametrize(
    "user_env",
    [
        pytest.param({"AWS_ROLE_ARN": "arn:aws:iam::999999999999:role/mine"}, id="role-arn"),
        pytest.param({"AWS_WEB_IDENTITY_TOKEN_FILE": "/my/token"}, id="token-file"),
        pytest.param(
            {
                "AWS_ROLE_ARN": "arn:aws:iam::999999999999:role/mine",
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/my/token",
            },
            id="both",
        ),
    ],
)
def test_either_key_of_the_credential_pair_stops_both(user_env: dict[str, str]) -> None:
    result = inject(pod(container(env=user_env)), irsa())

    assert result.env() == user_env


def test_user_pair_still_gets_missing_region_and_sts_settings() -> None:
    user_env = {"AWS_ROLE_ARN": "arn:aws:iam::999999999999:role/mine"}

    result = inject(pod(container(env=user_env)), irsa(regional_sts=True), REGION)

    assert result.env_names() == [
        "AWS_ROLE_ARN",
        "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ]


def test_existing_sts_setting_is_kept_not_duplicated() -> None:
    result = inject(pod(container(env={"AWS_STS_REGIONAL_ENDPOINTS": "legacy"})), irsa(regional_sts=True))

    assert result.env_names() == ["AWS_STS_REGIONAL_ENDPOINTS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "legacy"


@pytest.mark.parametrize(
    ("identity_sts", "settings"),
    [
        pytest.param(True, REGION, id="region-and-sts-configured"),
        pytest.param(False, MutationSettings(), id="nothing-else-configured"),
    ],
)
def test_container_with_credentials_region_and_sts_all_set_is_untouched(
    identity_sts: bool, settings: MutationSettings
) -> None:
    configured = container(
        env={
            "AWS_ROLE_ARN": "arn:aws:iam::999999999999:role/mine",
            "AWS_REGION": "us-east-2",
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }
    )

    result = inject(pod(configured, container("plain")), irsa(regional_sts=identity_sts), settings)

    assert result.container("app") == configured
    assert result.env("plain")["AWS_ROLE_ARN"] == ROLE_ARN


def test_only_configured_container_is_left_alone_and_the_pod_gets_only_the_volume() -> None:
    configured = container(
        env={
            "AWS_ROLE_ARN": ROLE_ARN,
            "AWS_DEFAULT_REGION": "us-east-2",
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }
    )

    result = inject(pod(configured), irsa(regional_sts=True), REGION)

    assert [operation["path"] for operation in result.patch] == ["/spec/volumes"]
    assert result.pod["spec"]["containers"] == [configured]


@pytest.mark.parametrize(
    ("entry", "blocks_pair"),
    [
        pytest.param({"name": "AWS_ROLE_ARN", **SECRET_REF}, True, id="role-from-secret"),
        pytest.param(
            {"name": "AWS_REGION", "valueFrom": {"configMapKeyRef": {"name": "aws", "key": "region"}}},
            False,
            id="region-from-configmap",
        ),
        pytest.param(
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, False, id="other"
        ),
    ],
)
def test_env_from_value_from_counts_as_set_and_is_kept(entry: dict[str, Any], blocks_pair: bool) -> None:
    result = inject(pod(container(env=[entry])), irsa(), REGION)

    assert result.container("app")["env"][0] == entry
    assert ("AWS_WEB_IDENTITY_TOKEN_FILE" not in result.env()) is blocks_pair
    assert result.env_names().count(entry["name"]) == 1


def test_container_without_env_array_gets_one() -> None:
    original = pod(container())
    assert "env" not in original["spec"]["containers"][0]

    result = inject(original, irsa())

    assert result.env() == {"AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN_FILE}


def test_container_with_empty_env_array_gets_appended_to() -> None:
    result = inject(pod(container(env={})), irsa())

    assert result.env_names() == ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]


def test_custom_mount_path_is_used_for_the_token_file() -> None:
    result = inject(pod(), irsa(), MutationSettings(token_mount_path="/var/run/secrets/irsa"))

    assert result.env()["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/secrets/irsa/token"
    assert result.mounts()[0]["mountPath"] == "/var/run/secrets/irsa"
