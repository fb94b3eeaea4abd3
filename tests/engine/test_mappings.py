"""SPEC §2: operator mappings (the `pod-identity-webhook` ConfigMap) for unannotated ServiceAccounts."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from tests.engine.support import NAMESPACE, ROLE_ARN, admit, pod, role_annotations
from webhook.engine.mappings import RoleMappings
from webhook.engine.settings import MutationSettings
from webhook.errors import ConfigurationError

MAPPED_ROLE = "arn:aws:iam::444455556666:role/mapped"


def mappings(config: Mapping[str, object]) -> RoleMappings:
    return RoleMappings.parse(json.dumps(config))


@pytest.mark.parametrize(
    ("key", "namespace", "service_account", "mapped"),
    [
        pytest.param("shop/checkout", "shop", "checkout", True, id="exact"),
        pytest.param("shop/checkout", "shop", "billing", False, id="exact-other-serviceaccount"),
        pytest.param("shop/checkout", "shopping", "checkout", False, id="exact-other-namespace"),
        pytest.param("*/checkout", "anything", "checkout", True, id="star-any-namespace"),
        pytest.param("*/checkout", "anything", "billing", False, id="star-other-serviceaccount"),
        pytest.param("team-*/checkout", "team-a", "checkout", True, id="prefix-glob"),
        pytest.param("team-*/checkout", "team-", "checkout", True, id="prefix-glob-empty-rest"),
        pytest.param("team-*/checkout", "teams", "checkout", False, id="prefix-glob-no-match"),
        pytest.param("team-*/checkout", "red-team-a", "checkout", False, id="prefix-glob-anchored"),
    ],
)
def test_mapping_key_selects_serviceaccounts(
    key: str, namespace: str, service_account: str, mapped: bool
) -> None:
    original = pod(service_account=service_account)
    original["metadata"]["namespace"] = namespace

    result = admit(original, annotations={}, mappings=mappings({key: {"RoleARN": MAPPED_ROLE}}))

    assert (result.env().get("AWS_ROLE_ARN") == MAPPED_ROLE) is mapped
    assert result.changed is mapped


def test_exact_mapping_beats_a_glob() -> None:
    config = {
        "*/checkout": {"RoleARN": "arn:aws:iam::444455556666:role/everywhere"},
        f"{NAMESPACE}/checkout": {"RoleARN": MAPPED_ROLE},
    }

    result = admit(pod(), annotations={}, mappings=mappings(config))

    assert result.env()["AWS_ROLE_ARN"] == MAPPED_ROLE


@pytest.mark.parametrize(
    ("namespace", "winner"),
    [
        pytest.param("team-ab", "team-??", id="question-marks-are-narrower-than-a-star"),
        pytest.param("team-abc", "team-*", id="longer-prefix-beats-any-namespace"),
        pytest.param("other", "*", id="only-the-star-matches"),
    ],
)
def test_the_narrowest_glob_wins_whatever_the_key_order(namespace: str, winner: str) -> None:
    patterns = ["*", "team-*", "team-??"]
    original = pod()
    original["metadata"]["namespace"] = namespace

    for order in (patterns, patterns[::-1]):
        config = {f"{pattern}/checkout": {"RoleARN": f"{MAPPED_ROLE}-{pattern}"} for pattern in order}
        result = admit(original, annotations={}, mappings=mappings(config))
        assert result.env()["AWS_ROLE_ARN"] == f"{MAPPED_ROLE}-{winner}"


def test_serviceaccount_role_annotation_beats_a_mapping() -> None:
    config = {f"{NAMESPACE}/checkout": {"RoleARN": MAPPED_ROLE, "Audience": "mapped-audience"}}

    result = admit(pod(), annotations=role_annotations(), mappings=mappings(config))

    assert result.env()["AWS_ROLE_ARN"] == ROLE_ARN
    assert result.token_request()["audience"] == "sts.amazonaws.com"


def test_mapping_fields_are_used_when_set() -> None:
    config = {
        f"{NAMESPACE}/checkout": {
            "RoleARN": MAPPED_ROLE,
            "Audience": "mapped-audience",
            "UseRegionalSTS": True,
            "TokenExpiration": 5400,
        }
    }

    result = admit(pod(), annotations={}, mappings=mappings(config))

    assert result.token_request()["audience"] == "mapped-audience"
    assert result.token_request()["expirationSeconds"] == 5400
    assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(("roleArn", "audience", "useRegionalSts", "tokenExpiration"), id="camel-case"),
        pytest.param(("rolearn", "AUDIENCE", "useregionalsts", "TOKENEXPIRATION"), id="any-case"),
    ],
)
def test_mapping_field_names_are_read_in_any_case_as_the_reference_reads_them(
    names: tuple[str, str, str, str],
) -> None:
    role, audience, regional, expiration = names
    config = {
        f"{NAMESPACE}/checkout": {
            role: MAPPED_ROLE,
            audience: "mapped-audience",
            regional: True,
            expiration: 5400,
        }
    }

    result = admit(pod(), annotations={}, mappings=mappings(config))

    assert result.env()["AWS_ROLE_ARN"] == MAPPED_ROLE
    assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert result.token_request()["audience"] == "mapped-audience"
    assert result.token_request()["expirationSeconds"] == 5400


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param("{", "config is not JSON", id="not-json"),
        pytest.param(
            '{"a/b": {"RoleARN": "r", "TokenExpiration": 1' + "0" * 5000 + "}}", "not JSON", id="huge-int"
        ),
        pytest.param("[" * 100_000 + "]" * 100_000, "not JSON: nested too deeply", id="deep-nesting"),
        pytest.param('["a/b"]', "must be a JSON object", id="not-an-object"),
        pytest.param('{"a/b": {"Audience": "x"}}', "needs a RoleARN string", id="no-role"),
        pytest.param('{"/b": {"RoleARN": "r"}}', "is not", id="key-without-namespace"),
        pytest.param('{"a/": {"RoleARN": "r"}}', "is not", id="key-without-name"),
        pytest.param(
            '{"a/b": {"RoleARN": "r", "TokenExpiration": true}}', "whole seconds", id="expiration-bool"
        ),
        pytest.param(
            '{"a/b": {"RoleARN": "r", "TokenExpiration": "3600"}}', "whole seconds", id="expiration-text"
        ),
    ],
)
def test_a_config_that_cannot_be_read_is_one_configuration_error(config: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RoleMappings.parse(config)


@pytest.mark.parametrize(
    "expiration", [pytest.param({}, id="absent"), pytest.param({"TokenExpiration": 0}, id="zero")]
)
def test_missing_mapping_fields_fall_back_to_the_flags(expiration: dict[str, int]) -> None:
    config = {f"{NAMESPACE}/checkout": {"RoleARN": MAPPED_ROLE, **expiration}}
    settings = MutationSettings(
        token_audience="flag-audience", sts_regional_endpoint=True, token_expiration=4000
    )

    result = admit(pod(), annotations={}, settings=settings, mappings=mappings(config))

    assert result.token_request()["audience"] == "flag-audience"
    assert result.token_request()["expirationSeconds"] == 4000
    assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"


def test_mapping_cannot_turn_off_regional_sts_set_by_serviceaccount_annotation() -> None:
    config = {f"{NAMESPACE}/checkout": {"RoleARN": MAPPED_ROLE, "UseRegionalSTS": False}}
    annotations = {"eks.amazonaws.com/sts-regional-endpoints": "true"}

    result = admit(pod(), annotations=annotations, mappings=mappings(config))

    assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"


@pytest.mark.parametrize(
    ("sa_expiration", "pod_expiration", "expected"),
    [
        pytest.param(None, None, 5400, id="mapping-beats-flag"),
        pytest.param("7200", None, 7200, id="serviceaccount-beats-mapping"),
        pytest.param("7200", "1800", 1800, id="pod-beats-all"),
    ],
)
def test_mapping_token_expiration_sits_between_serviceaccount_and_flag(
    sa_expiration: str | None, pod_expiration: str | None, expected: int
) -> None:
    config = {f"{NAMESPACE}/checkout": {"RoleARN": MAPPED_ROLE, "TokenExpiration": 5400}}
    sa = {"eks.amazonaws.com/token-expiration": sa_expiration} if sa_expiration else {}
    pod_annotations = {"eks.amazonaws.com/token-expiration": pod_expiration} if pod_expiration else None

    result = admit(pod(annotations=pod_annotations), annotations=sa, mappings=mappings(config))

    assert result.token_request()["expirationSeconds"] == expected


def test_mapping_expiration_below_minimum_is_raised_with_a_warning() -> None:
    config = {f"{NAMESPACE}/checkout": {"RoleARN": MAPPED_ROLE, "TokenExpiration": 60}}

    result = admit(pod(), annotations={}, mappings=mappings(config))

    assert result.token_request()["expirationSeconds"] == 600
    assert result.warnings


@pytest.mark.parametrize("config", ["", "  \n", "{}"])
def test_empty_mappings_change_nothing(config: str) -> None:
    assert admit(pod(), annotations={}, mappings=RoleMappings.parse(config)).patch == []
