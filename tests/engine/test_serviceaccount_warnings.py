"""What a ServiceAccount is warned about when it is written: each row one mistake, and the sentence that
names it; a ServiceAccount written right gets no warning at all."""

from __future__ import annotations

import pytest

from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.serviceaccount_warnings import serviceaccount_warnings
from webhook.engine.settings import MutationSettings

ROLE = "arn:aws:iam::111122223333:role/checkout"
WHERE = "serviceaccount shop/checkout"
ASSOCIATED = PodIdentityAssociations(frozenset({("shop", "checkout")}))


def warnings_for(
    annotations: dict[str, str],
    *,
    pod_identities: PodIdentityAssociations | None = None,
    settings: MutationSettings | None = None,
) -> list[str]:
    return serviceaccount_warnings(
        namespace="shop",
        name="checkout",
        annotations=annotations,
        pod_identities=pod_identities or PodIdentityAssociations(),
        settings=settings or MutationSettings(),
    )


@pytest.mark.parametrize(
    "annotations",
    [
        pytest.param({}, id="no-annotations"),
        pytest.param({"eks.amazonaws.com/role-arn": ROLE}, id="role"),
        pytest.param(
            {"eks.amazonaws.com/role-arn": "arn:aws-cn:iam::111122223333:role/a/b"}, id="china-path"
        ),
        pytest.param(
            {
                "eks.amazonaws.com/role-arn": ROLE,
                "eks.amazonaws.com/audience": "sts.example.com",
                "eks.amazonaws.com/token-expiration": "3600",
                "eks.amazonaws.com/sts-regional-endpoints": "true",
            },
            id="every-annotation",
        ),
        pytest.param({"kubectl.kubernetes.io/last-applied-configuration": "{}"}, id="other-tools"),
        pytest.param({"eks.amazonaws.com/role-arn": ""}, id="empty-role-means-no-irsa"),
    ],
)
def test_a_serviceaccount_written_right_gets_no_warning(annotations: dict[str, str]) -> None:
    assert warnings_for(annotations) == []


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param(
            {"eks.amazon.com/role-arn": ROLE},
            f"{WHERE}: the ServiceAccount's annotation eks.amazon.com/role-arn is not read: did you mean "
            "eks.amazonaws.com/role-arn?",
            id="misspelt-prefix",
        ),
        pytest.param(
            {"eks.amazonaws.com/rolearn": ROLE},
            f"{WHERE}: the ServiceAccount's annotation eks.amazonaws.com/rolearn is not read: did you mean "
            "eks.amazonaws.com/role-arn?",
            id="misspelt-name",
        ),
        pytest.param(
            {"example.com/iam-role": ROLE},
            f"{WHERE}: the ServiceAccount's annotation example.com/iam-role holds a role ARN, but the role is "
            "read only from eks.amazonaws.com/role-arn",
            id="role-under-another-key",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": "arn:aws:iam::1111:role/checkout"},
            f"{WHERE}: role 'arn:aws:iam::1111:role/checkout' is not an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>)",
            id="short-account",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": "checkout"},
            f"{WHERE}: role 'checkout' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            id="role-name-only",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "60"},
            f"{WHERE} annotation token-expiration: token expiration 60s is below the API server's minimum; "
            "using 600s",
            id="expiration-too-short",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "99999999999"},
            f"{WHERE} annotation token-expiration: token expiration 99999999999s is above the API server's "
            "maximum; using 4294967296s",
            id="expiration-too-long",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "1h"},
            f"{WHERE} annotation token-expiration: token expiration '1h' is not a number of seconds; ignored",
            id="expiration-not-a-number",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/audience": " "},
            f"{WHERE}: the eks.amazonaws.com/audience annotation is empty; the default audience "
            "sts.amazonaws.com is used",
            id="empty-audience",
        ),
        pytest.param(
            {"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/sts-regional-endpoints": "yes"},
            f'{WHERE} annotation sts-regional-endpoints: \'yes\' is neither "true" nor "false"; ignored',
            id="regional-sts-not-a-boolean",
        ),
    ],
)
def test_each_mistake_is_named_in_one_warning(annotations: dict[str, str], expected: str) -> None:
    assert warnings_for(annotations) == [expected]


def test_a_misspelt_role_key_with_a_wrong_expiration_gets_both_warnings() -> None:
    warnings = warnings_for({"eks.amazon.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "60"})

    assert [warning.split(":")[1].strip() for warning in warnings] == [
        "the ServiceAccount's annotation eks.amazon.com/role-arn is not read",
        "token expiration 60s is below the API server's minimum; using 600s",
    ]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(
            ROLE,
            [
                f"{WHERE}: has both the eks.amazonaws.com/role-arn annotation and a Pod Identity association; the "
                "association wins and the annotation is not used"
            ],
            id="role-and-association",
        ),
        pytest.param(
            "not-an-arn",
            [
                f"{WHERE}: has both the eks.amazonaws.com/role-arn annotation and a Pod Identity association; the "
                "association wins and the annotation is not used"
            ],
            id="unused-role-is-not-checked",
        ),
        pytest.param("", [], id="association-alone"),
    ],
)
def test_a_role_beside_a_pod_identity_association_is_named_as_unused(role: str, expected: list[str]) -> None:
    assert warnings_for({"eks.amazonaws.com/role-arn": role}, pod_identities=ASSOCIATED) == expected


def test_warnings_follow_the_annotation_prefix() -> None:
    settings = MutationSettings(annotation_prefix="iam.example.com")

    assert warnings_for({"iam.example.com/role-arn": ROLE}, settings=settings) == []
    assert warnings_for({"iam.example.com/role-arn": "x"}, settings=settings) == [
        f"{WHERE}: role 'x' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    ]
    assert warnings_for({"eks.amazonaws.com/role-arn": ROLE}, settings=settings) == [
        f"{WHERE}: the ServiceAccount's annotation eks.amazonaws.com/role-arn is not read: did you mean "
        "iam.example.com/role-arn?"
    ]
