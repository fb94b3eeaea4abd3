"""SPEC §2: the ServiceAccount and pod annotations, read under the configurable prefix."""

from __future__ import annotations

import pytest

from tests.engine.support import (
    IRSA_MOUNT_PATH,
    IRSA_TOKEN_FILE,
    NAMESPACE,
    NATIVE_SIDECAR_VERSIONS,
    ROLE_ARN,
    SERVICE_ACCOUNT,
    admit,
    container,
    find_container,
    pod,
    role_annotations,
)
from webhook.engine.identity import Source, resolve_identity, service_account_entry
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings, RoleArnComposition

PREFIX = "eks.amazonaws.com"


@pytest.mark.parametrize(
    ("annotations", "source"),
    [
        pytest.param(None, Source.NO_SERVICE_ACCOUNT, id="no-such-serviceaccount"),
        pytest.param({}, Source.NO_ROLE, id="serviceaccount-without-a-role"),
        pytest.param(role_annotations(), Source.ANNOTATION, id="serviceaccount-with-a-role"),
    ],
)
def test_resolution_tells_a_missing_serviceaccount_from_one_without_a_role(
    annotations: dict[str, str] | None, source: Source
) -> None:
    resolution = resolve_identity(namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, annotations=annotations,
                                  mappings=RoleMappings(), pod_identities=PodIdentityAssociations(),
                                  settings=MutationSettings())  # fmt: skip

    assert resolution.source is source


def test_role_arn_annotation_gives_every_container_the_role_token_and_mount() -> None:
    result = admit(pod(container("app"), container("proxy")), annotations=role_annotations())

    for name in ("app", "proxy"):
        assert result.env(name) == {"AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN_FILE}
        assert result.mounts(name) == [
            {"name": "aws-iam-token", "mountPath": IRSA_MOUNT_PATH, "readOnly": True}
        ]
    assert result.volumes() == [
        {
            "name": "aws-iam-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": "sts.amazonaws.com",
                            "expirationSeconds": 86400,
                            "path": "token",
                        }
                    }
                ]
            },
        }
    ]
    assert result.warnings == ()


@pytest.mark.parametrize(
    "annotations",
    [
        pytest.param({}, id="no-annotations"),
        pytest.param({f"{PREFIX}/role-arn": ""}, id="empty-role-arn"),
        pytest.param({f"{PREFIX}/role-arn": "   "}, id="blank-role-arn"),
        pytest.param({f"{PREFIX}/audience": "custom"}, id="audience-without-role"),
        pytest.param({"other.example.com/role-arn": ROLE_ARN}, id="role-under-another-prefix"),
        pytest.param(None, id="serviceaccount-does-not-exist"),
    ],
)
def test_serviceaccount_without_role_leaves_pod_unchanged(annotations: dict[str, str] | None) -> None:
    result = admit(pod(), annotations=annotations)

    assert result.patch == []
    assert not result.changed


def test_pod_cannot_choose_its_own_role_by_annotation() -> None:
    own_role = {f"{PREFIX}/role-arn": "arn:aws:iam::999999999999:role/escalated"}

    without_sa_role = admit(pod(annotations=own_role), annotations={})
    with_sa_role = admit(pod(annotations=own_role), annotations=role_annotations())

    assert without_sa_role.patch == []
    assert with_sa_role.env()["AWS_ROLE_ARN"] == ROLE_ARN


@pytest.mark.parametrize(
    "role_arn",
    [
        pytest.param("checkout-role", id="bare-name"),
        pytest.param("arn:aws:iam::12345678901:role/checkout", id="eleven-digit-account"),
        pytest.param("arn:aws:iam::123456789012:user/checkout", id="a-user-not-a-role"),
        pytest.param("arn:aws:iam::123456789012:role/caf\u00e9", id="non-ascii-role-name"),
        pytest.param("arn:aws:iam::\u0661\u0662\u0663456789012:role/checkout", id="non-ascii-account-digits"),
    ],
)
def test_role_arn_that_is_not_an_iam_role_arn_is_injected_with_a_warning(role_arn: str) -> None:
    result = admit(pod(), annotations=role_annotations(role_arn=role_arn))

    assert result.env()["AWS_ROLE_ARN"] == role_arn
    assert any(role_arn in warning and "not an IAM role ARN" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    "role_arn",
    [
        pytest.param("arn:aws:iam::123456789012:role/checkout", id="aws"),
        pytest.param("arn:aws-cn:iam::123456789012:role/checkout", id="aws-cn"),
        pytest.param("arn:aws-us-gov:iam::123456789012:role/checkout", id="aws-us-gov"),
        pytest.param(
            "arn:aws:iam::123456789012:role/team/app/checkout+x=y,z.w@v-u_t", id="path-and-every-allowed-sign"
        ),
    ],
)
def test_iam_role_arn_is_injected_without_a_warning(role_arn: str) -> None:
    result = admit(pod(), annotations=role_annotations(role_arn=role_arn))

    assert result.env()["AWS_ROLE_ARN"] == role_arn
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("annotated", "flag", "expected"),
    [
        (None, "sts.amazonaws.com", "sts.amazonaws.com"),
        (None, "vault.example.com", "vault.example.com"),
        ("my-audience", "sts.amazonaws.com", "my-audience"),
        ("my-audience", "vault.example.com", "my-audience"),
    ],
)
def test_token_audience_comes_from_annotation_then_flag(
    annotated: str | None, flag: str, expected: str
) -> None:
    annotations = role_annotations(**({"audience": annotated} if annotated else {}))

    result = admit(pod(), annotations=annotations, settings=MutationSettings(token_audience=flag))

    assert result.token_request()["audience"] == expected


@pytest.mark.parametrize(
    ("annotated", "flag", "injected", "warns"),
    [
        pytest.param(None, False, False, False, id="unset-flag-off"),
        pytest.param(None, True, True, False, id="unset-flag-on"),
        pytest.param("true", False, True, False, id="true-beats-flag-off"),
        pytest.param("false", True, False, False, id="false-beats-flag-on"),
        pytest.param("true", True, True, False, id="true-flag-on"),
        pytest.param("false", False, False, False, id="false-flag-off"),
        pytest.param("True", False, True, False, id="any-case"),
        pytest.param("1", False, True, False, id="one-is-true-as-in-the-reference"),
        pytest.param("t", False, True, False, id="t-is-true-as-in-the-reference"),
        pytest.param("0", True, False, False, id="zero-is-false-as-in-the-reference"),
        pytest.param("F", True, False, False, id="f-is-false-as-in-the-reference"),
        pytest.param(" true ", False, True, False, id="surrounding-spaces-ignored"),
        pytest.param("yes-please", True, True, True, id="garbage-falls-back-to-flag-on"),
        pytest.param("yes-please", False, False, True, id="garbage-falls-back-to-flag-off"),
    ],
)
def test_sts_regional_endpoints_annotation_overrides_flag_both_ways(
    annotated: str | None, flag: bool, injected: bool, warns: bool
) -> None:
    annotations = role_annotations(**({"sts_regional_endpoints": annotated} if annotated else {}))

    result = admit(pod(), annotations=annotations, settings=MutationSettings(sts_regional_endpoint=flag))

    assert ("AWS_STS_REGIONAL_ENDPOINTS" in result.env()) is injected
    if injected:
        assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert any("neither" in warning for warning in result.warnings) is warns


@pytest.mark.parametrize(
    ("pod_value", "sa_value", "flag", "expected", "warns"),
    [
        pytest.param(None, None, 86400, 86400, False, id="reference-default"),
        pytest.param(None, None, 3600, 3600, False, id="flag"),
        pytest.param(None, "7200", 3600, 7200, False, id="serviceaccount-beats-flag"),
        pytest.param("1800", "7200", 3600, 1800, False, id="pod-beats-serviceaccount"),
        pytest.param("1800", None, 3600, 1800, False, id="pod-beats-flag"),
        pytest.param(None, "100", 86400, 600, True, id="serviceaccount-below-minimum"),
        pytest.param("0", "7200", 86400, 600, True, id="pod-zero"),
        pytest.param("-5", None, 86400, 600, True, id="pod-negative"),
        pytest.param("600", None, 86400, 600, False, id="pod-exactly-minimum"),
        pytest.param("soon", "7200", 86400, 7200, True, id="pod-not-a-number-falls-back-to-serviceaccount"),
        pytest.param(None, "1h", 3600, 3600, True, id="serviceaccount-not-a-number-falls-back-to-flag"),
        pytest.param("99999999999", None, 86400, 2**32, True, id="pod-huge-capped"),
        pytest.param(" 3600 ", None, 86400, 3600, False, id="pod-spaces-trimmed"),
        pytest.param("+3600", None, 86400, 3600, False, id="pod-plus-sign-as-in-the-reference"),
        pytest.param("1_000", "7200", 86400, 7200, True, id="pod-underscores-are-not-a-number"),
        pytest.param("٣٦٠٠", "7200", 86400, 7200, True, id="pod-non-ascii-digits-are-not-a-number"),
        pytest.param(None, "3600.0", 1800, 1800, True, id="serviceaccount-decimal-is-not-a-number"),
        pytest.param(None, "4294967296", 86400, 2**32, False, id="serviceaccount-exactly-maximum"),
        pytest.param("", "7200", 86400, 7200, True, id="pod-empty-is-not-a-number"),
        pytest.param(None, "", 3600, 3600, True, id="serviceaccount-empty-is-not-a-number-as-on-a-pod"),
    ],
)
def test_token_expiration_precedence_and_bounds(
    pod_value: str | None, sa_value: str | None, flag: int, expected: int, warns: bool
) -> None:
    pod_annotations = {f"{PREFIX}/token-expiration": pod_value} if pod_value is not None else None
    annotations = role_annotations(**({"token_expiration": sa_value} if sa_value is not None else {}))

    result = admit(
        pod(annotations=pod_annotations),
        annotations=annotations,
        settings=MutationSettings(token_expiration=flag),
    )

    assert result.token_request()["expirationSeconds"] == expected
    assert bool(result.warnings) is warns


@pytest.mark.parametrize(
    ("skip", "untouched", "mutated"),
    [
        pytest.param("sidecar", {"sidecar"}, {"app", "setup", "mesh"}, id="one-container"),
        pytest.param(" sidecar , setup ", {"sidecar", "setup"}, {"app", "mesh"}, id="spaces-trimmed"),
        pytest.param("setup,mesh", {"setup", "mesh"}, {"app", "sidecar"}, id="init-and-native-sidecar"),
        pytest.param(",,sidecar,,", {"sidecar"}, {"app", "setup", "mesh"}, id="empty-items"),
        pytest.param("nonexistent", set(), {"app", "sidecar", "setup", "mesh"}, id="unknown-name"),
        pytest.param("", set(), {"app", "sidecar", "setup", "mesh"}, id="empty-value"),
    ],
)
def test_skip_containers_leaves_named_containers_untouched(
    skip: str, untouched: set[str], mutated: set[str]
) -> None:
    original = pod(
        container("app"),
        container("sidecar"),
        init_containers=[container("setup"), container("mesh", restartPolicy="Always")],
        annotations={f"{PREFIX}/skip-containers": skip},
    )

    result = admit(original, annotations=role_annotations(), versions=NATIVE_SIDECAR_VERSIONS)

    for name in untouched:
        assert result.container(name) == find_container(original, name)
    for name in mutated:
        assert result.env(name)["AWS_ROLE_ARN"] == ROLE_ARN
        assert result.mounts(name)[0]["name"] == "aws-iam-token"


def test_init_containers_and_native_sidecars_are_mutated_like_containers() -> None:
    original = pod(
        container("app"), init_containers=[container("migrate"), container("mesh", restartPolicy="Always")]
    )

    result = admit(original, annotations=role_annotations(), versions=NATIVE_SIDECAR_VERSIONS)

    for name in ("migrate", "mesh", "app"):
        assert result.env(name) == {"AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN_FILE}
        assert result.mounts(name) == [
            {"name": "aws-iam-token", "mountPath": IRSA_MOUNT_PATH, "readOnly": True}
        ]
    assert result.container("mesh")["restartPolicy"] == "Always"


def test_skipping_every_container_leaves_them_alone_and_adds_only_the_volume_as_the_reference_does() -> None:
    original = pod(container("app"), annotations={f"{PREFIX}/skip-containers": "app"})

    result = admit(original, annotations=role_annotations())

    assert [operation["path"] for operation in result.patch] == ["/spec/volumes"]
    assert result.pod["spec"]["containers"] == original["spec"]["containers"]


class TestCustomAnnotationPrefix:
    settings = MutationSettings(annotation_prefix="iam.example.com")

    def test_role_is_read_under_the_custom_prefix_only(self) -> None:
        custom = admit(pod(), annotations=role_annotations("iam.example.com"), settings=self.settings)
        default = admit(pod(), annotations=role_annotations(), settings=self.settings)

        assert custom.env()["AWS_ROLE_ARN"] == ROLE_ARN
        assert default.patch == []

    def test_serviceaccount_settings_are_read_under_the_custom_prefix(self) -> None:
        annotations = role_annotations(
            "iam.example.com", audience="custom-aud", sts_regional_endpoints="true", token_expiration="3600"
        )

        result = admit(pod(), annotations=annotations, settings=self.settings)

        assert result.token_request()["audience"] == "custom-aud"
        assert result.token_request()["expirationSeconds"] == 3600
        assert result.env()["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"

    def test_pod_annotations_are_read_under_the_custom_prefix(self) -> None:
        original = pod(
            container("app"),
            container("sidecar"),
            annotations={
                "iam.example.com/skip-containers": "sidecar",
                "iam.example.com/token-expiration": "1200",
            },
        )

        result = admit(original, annotations=role_annotations("iam.example.com"), settings=self.settings)

        assert "env" not in result.container("sidecar")
        assert result.token_request()["expirationSeconds"] == 1200

    def test_skip_label_is_read_under_the_custom_prefix(self) -> None:
        custom = pod(labels={"iam.example.com/skip-pod-identity-webhook": "true"})
        default = pod(labels={f"{PREFIX}/skip-pod-identity-webhook": "true"})
        annotations = role_annotations("iam.example.com")

        assert admit(custom, annotations=annotations, settings=self.settings).patch == []
        assert admit(default, annotations=annotations, settings=self.settings).changed


@pytest.mark.parametrize(
    ("annotated", "injected"),
    [
        ("checkout", "arn:aws-cn:iam::444455556666:role/checkout"),
        ("team/checkout", "arn:aws-cn:iam::444455556666:role/team/checkout"),
        ("arn:aws:iam::111122223333:role/own", "arn:aws:iam::111122223333:role/own"),
        (" checkout ", "arn:aws-cn:iam::444455556666:role/checkout"),
    ],
)
def test_compose_role_arn_makes_a_role_name_the_role_arn_of_the_account(
    annotated: str, injected: str
) -> None:
    settings = MutationSettings(
        compose_role_arn=RoleArnComposition(partition="aws-cn", account_id="444455556666")
    )

    result = admit(pod(), annotations={f"{PREFIX}/role-arn": annotated}, settings=settings)

    assert result.env()["AWS_ROLE_ARN"] == injected
    assert result.warnings == ()


def test_without_compose_role_arn_a_role_name_is_injected_as_it_is_with_a_warning() -> None:
    result = admit(pod(), annotations={f"{PREFIX}/role-arn": "checkout"})

    assert result.env()["AWS_ROLE_ARN"] == "checkout"
    assert any("not an IAM role ARN" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    ("annotations", "entry"),
    [
        (
            {},
            {
                "RoleARN": "",
                "Audience": "sts.amazonaws.com",
                "UseRegionalSTS": True,
                "TokenExpiration": 86400,
            },
        ),
        (
            {
                f"{PREFIX}/role-arn": "reader",
                f"{PREFIX}/audience": "mine",
                f"{PREFIX}/sts-regional-endpoints": "false",
                f"{PREFIX}/token-expiration": "3600",
            },
            {
                "RoleARN": "arn:aws:iam::444455556666:role/reader",
                "Audience": "mine",
                "UseRegionalSTS": False,
                "TokenExpiration": 3600,
            },
        ),
        (
            {f"{PREFIX}/sts-regional-endpoints": "maybe", f"{PREFIX}/token-expiration": "1h"},
            {
                "RoleARN": "",
                "Audience": "sts.amazonaws.com",
                "UseRegionalSTS": True,
                "TokenExpiration": 86400,
            },
        ),
    ],
)
def test_the_debugging_cache_entry_is_the_references_annotations_over_the_flags(
    annotations: dict[str, str], entry: dict[str, object]
) -> None:
    settings = MutationSettings(
        sts_regional_endpoint=True,
        compose_role_arn=RoleArnComposition(partition="aws", account_id="444455556666"),
    )

    assert (
        service_account_entry(
            namespace="shop", service_account="app", annotations=annotations, settings=settings
        )
        == entry
    )
