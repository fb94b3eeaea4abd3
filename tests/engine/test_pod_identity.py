"""SPEC §2-§3: EKS Pod Identity ("container credentials") mode and its precedence over IRSA."""

from __future__ import annotations

import json

import pytest

from tests.engine.support import (
    NAMESPACE,
    POD_IDENTITY_MOUNT_PATH,
    POD_IDENTITY_TOKEN_FILE,
    POD_IDENTITY_URI,
    SERVICE_ACCOUNT,
    admit,
    container,
    inject,
    pod,
    pod_identity,
    role_annotations,
)
from webhook.engine.mappings import RoleMappings
from webhook.engine.mutation import mutate
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.pod_view import pod_from_object
from webhook.engine.settings import IPV6_CONTAINER_CREDENTIALS_FULL_URI, MutationSettings
from webhook.errors import ConfigurationError

ASSOCIATED = PodIdentityAssociations.parse(
    f'{{"identities":[{{"namespace":"{NAMESPACE}","serviceAccount":"{SERVICE_ACCOUNT}"}}]}}', source="test"
)
LABEL = "eks.amazonaws.com/pod-identity"


def test_associated_serviceaccount_gets_the_agent_uri_token_volume_and_label() -> None:
    result = admit(pod(), annotations={}, pod_identities=ASSOCIATED)

    assert result.env() == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": POD_IDENTITY_URI,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": POD_IDENTITY_TOKEN_FILE,
    }
    assert result.mounts() == [
        {"name": "eks-pod-identity-token", "mountPath": POD_IDENTITY_MOUNT_PATH, "readOnly": True}
    ]
    assert result.volume("eks-pod-identity-token")["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": "pods.eks.amazonaws.com",
                "expirationSeconds": 86400,
                "path": "eks-pod-identity-token",
            }
        }
    ]
    assert result.pod["metadata"]["labels"] == {LABEL: "enabled"}


def test_pod_identity_wins_over_the_serviceaccount_role_annotation() -> None:
    result = admit(pod(), annotations=role_annotations(), pod_identities=ASSOCIATED)

    assert "AWS_ROLE_ARN" not in result.env()
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" not in result.env()
    assert result.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == POD_IDENTITY_URI
    assert [volume["name"] for volume in result.volumes()] == ["eks-pod-identity-token"]


def test_other_serviceaccounts_keep_irsa() -> None:
    result = admit(pod(service_account="billing"), annotations=role_annotations(), pod_identities=ASSOCIATED)

    assert "AWS_ROLE_ARN" in result.env()
    assert "labels" not in result.pod["metadata"]


def test_ipv6_agent_uri_comes_from_settings() -> None:
    settings = MutationSettings(container_credentials_full_uri=IPV6_CONTAINER_CREDENTIALS_FULL_URI)

    result = inject(pod(), pod_identity(), settings)

    assert result.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://[fd00:ec2::23]/v1/credentials"


def test_container_credentials_settings_change_volume_mount_and_token_file() -> None:
    settings = MutationSettings(
        container_credentials_audience="agent.example.com",
        container_credentials_token_mount_path="/var/run/agent",
        container_credentials_token_volume_name="agent-token",
        container_credentials_token_path="jwt",
    )

    result = admit(pod(), annotations={}, settings=settings, pod_identities=ASSOCIATED)

    assert result.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == "/var/run/agent/jwt"
    assert result.mounts() == [{"name": "agent-token", "mountPath": "/var/run/agent", "readOnly": True}]
    assert result.token_request("agent-token") == {
        "audience": "agent.example.com",
        "expirationSeconds": 86400,
        "path": "jwt",
    }


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param(None, {LABEL: "enabled"}, id="no-labels"),
        pytest.param({"app": "checkout"}, {"app": "checkout", LABEL: "enabled"}, id="other-labels-kept"),
        pytest.param({LABEL: "enabled"}, {LABEL: "enabled"}, id="already-labelled"),
    ],
)
def test_pod_identity_label_is_added_next_to_existing_labels(
    labels: dict[str, str] | None, expected: dict[str, str]
) -> None:
    result = inject(pod(labels=labels), pod_identity())

    assert result.pod["metadata"]["labels"] == expected


def test_pod_identity_label_under_custom_prefix() -> None:
    result = inject(pod(), pod_identity(), MutationSettings(annotation_prefix="iam.example.com"))

    assert result.pod["metadata"]["labels"] == {"iam.example.com/pod-identity": "enabled"}


def test_a_configured_pod_gets_the_volume_and_so_the_label_as_the_reference_does() -> None:
    configured = container(
        env={
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:8080/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/token",
            "AWS_REGION": "eu-west-1",
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }
    )

    result = inject(pod(configured), pod_identity())

    assert [operation["path"] for operation in result.patch] == ["/spec/volumes", "/metadata/labels"]
    assert result.pod["spec"]["containers"] == [configured]


@pytest.mark.parametrize(
    "user_env",
    [
        pytest.param({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:8080/creds"}, id="uri"),
        pytest.param({"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/my/token"}, id="token-file"),
    ],
)
def test_either_key_of_the_pod_identity_pair_stops_both(user_env: dict[str, str]) -> None:
    result = inject(pod(container(env=user_env)), pod_identity())

    assert result.env() == user_env


def test_pod_identity_gets_region_and_regional_sts_before_the_pair() -> None:
    result = inject(pod(), pod_identity(regional_sts=True), MutationSettings(aws_default_region="eu-west-1"))

    assert result.env_names() == [
        "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ]


def test_pod_identity_on_windows_uses_a_windows_token_path() -> None:
    result = inject(pod(nodeSelector={"kubernetes.io/os": "windows"}), pod_identity())

    assert result.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == (
        "C:\\var\\run\\secrets\\pods.eks.amazonaws.com\\serviceaccount\\eks-pod-identity-token"
    )


def test_pod_identity_token_expiration_from_pod_annotation() -> None:
    original = pod(annotations={"eks.amazonaws.com/token-expiration": "3600"})

    result = admit(original, annotations={}, pod_identities=ASSOCIATED)

    assert result.token_request("eks-pod-identity-token")["expirationSeconds"] == 3600


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"Identities": [{"Namespace": "shop", "ServiceAccount": "agent"}]}', id="capitalised"),
        pytest.param('{"IDENTITIES": [{"namespace": "shop", "serviceaccount": "agent"}]}', id="any-case"),
    ],
)
def test_association_file_field_names_are_read_in_any_case_as_the_reference_reads_them(text: str) -> None:
    associations = PodIdentityAssociations.parse(text, source="test")

    assert ("shop", "agent") in associations
    assert len(associations) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{"identities": [', "not JSON", id="not-json"),
        pytest.param('{"identities": [' + "1" * 5000 + "]}", "not JSON", id="huge-int"),
        pytest.param("[" * 100_000 + "]" * 100_000, "not JSON: nested too deeply", id="deep-nesting"),
        pytest.param('[{"namespace": "shop", "serviceAccount": "agent"}]', "expected", id="a-bare-list"),
        pytest.param('{"identities": {"namespace": "shop"}}', "expected", id="identities-not-a-list"),
        pytest.param('{"identities": [{"namespace": "shop"}]}', r"identities\[0\] needs", id="no-name"),
        pytest.param(
            '{"identities": [{"namespace": 7, "serviceAccount": "a"}]}', "needs", id="number-namespace"
        ),
        pytest.param(
            '{"identities": [{"namespace": "shop", "serviceAccount": ""}]}', "needs", id="empty-name"
        ),
    ],
)
def test_an_association_file_that_cannot_be_read_is_one_configuration_error(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PodIdentityAssociations.parse(text, source="test")


@pytest.mark.parametrize("text", ["", "  \n", '{"identities": null}', "{}"])
def test_an_association_file_with_nothing_in_it_lists_no_one(text: str) -> None:
    assert len(PodIdentityAssociations.parse(text, source="test")) == 0


def test_pod_identity_label_comes_with_the_metadata_a_template_left_out() -> None:
    template = pod()
    del template["metadata"]

    mutation = mutate(pod_from_object(template), pod_identity(), MutationSettings())

    assert {"op": "add", "path": "/metadata", "value": {"labels": {LABEL: "enabled"}}} in mutation.patch


def test_pod_identity_ignores_a_mappings_expiration_and_regional_sts() -> None:
    mappings = RoleMappings.parse(
        json.dumps({f"{NAMESPACE}/{SERVICE_ACCOUNT}": {"RoleARN": "arn:aws:iam::111122223333:role/mapped",
                                                       "TokenExpiration": 3600, "UseRegionalSTS": True}})
    )  # fmt: skip

    result = admit(pod(), annotations={}, mappings=mappings, pod_identities=ASSOCIATED)

    assert result.token_request("eks-pod-identity-token")["expirationSeconds"] == 86400
    assert "AWS_STS_REGIONAL_ENDPOINTS" not in result.env()
