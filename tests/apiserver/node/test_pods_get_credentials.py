"""Pods started by a real kubelet, mutated by our webhook, whose AWS SDK asks the token-checking STS (or the
Pod Identity agent) for credentials: the promise of the project, kept or refused in a running pod.

All the pods start together and each test reads one's report (tests/apiserver/node/probe.py); the checks
of stored pods, tokens and environments are those `tests/e2e/kind.sh` runs on a kind cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.apiserver.cluster import Cluster, env_of, pod, until_pods_show
from tests.apiserver.control_plane import ISSUER
from tests.apiserver.node.local_aws import LocalAws, Servers
from tests.apiserver.node.running import ACCOUNT_ID, NON_ROOT, REGION, MakeRole, PodRunner, Ran
from tests.apiserver.webhook_process import PodIdentityFile
from tests.e2e.pod_assertions import (
    environment_problems,
    irsa_problems,
    jwt_claims,
    pod_identity_problems,
    token_problems,
    untouched_problems,
)
from webhook.engine.settings import DEFAULT_TOKEN_EXPIRATION

WEB_IDENTITY = "AWS_WEB_IDENTITY_TOKEN_FILE"
POD_IDENTITY = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"


@dataclass(frozen=True)
class Pods:
    namespace: str
    checkout_role: str
    regional_role: str
    pod_identity_role: str
    irsa: Ran
    no_role: Ran
    someone_elses_role: Ran
    other_audience: Ran
    annotated: Ran
    pod_identity: Ran


@pytest.fixture(scope="module")
def pods(runner: PodRunner, make_role: MakeRole, associations_file: PodIdentityFile, aws: LocalAws) -> Pods:
    cluster = runner.cluster
    namespace = cluster.namespace()
    checkout = make_role("checkout", "--service-account", f"{namespace}/checkout")
    regional = make_role("regional", "--service-account", f"{namespace}/regional")
    other_audience = make_role(
        "other-audience", "--service-account", f"{namespace}/other-audience", "--audience", "example.com"
    )
    pod_identity = make_role("agent-client", "--pod-identity")
    aws.associate(namespace, "agent-client", pod_identity)

    role = "eks.amazonaws.com/role-arn"
    cluster.service_account(namespace, "checkout", annotations={role: checkout})
    cluster.service_account(namespace, "no-role")
    cluster.service_account(namespace, "intruder", annotations={role: checkout})
    cluster.service_account(
        namespace,
        "other-audience",
        annotations={role: other_audience, "eks.amazonaws.com/audience": "example.com"},
    )
    cluster.service_account(
        namespace,
        "regional",
        annotations={
            role: regional,
            "eks.amazonaws.com/sts-regional-endpoints": "true",
            "eks.amazonaws.com/token-expiration": "3600",
        },
    )
    cluster.service_account(namespace, "agent-client")
    _wait_for_association(cluster, associations_file, namespace, "agent-client")

    started = {
        name: runner.start(namespace, runner.manifest(service_account=account))
        for name, account in (
            ("irsa", "checkout"),
            ("no_role", "no-role"),
            ("someone_elses_role", "intruder"),
            ("other_audience", "other-audience"),
            ("annotated", "regional"),
            ("pod_identity", "agent-client"),
        )
    }
    ran = {name: runner.result(stored) for name, stored in started.items()}
    return Pods(
        namespace=namespace,
        checkout_role=checkout,
        regional_role=regional,
        pod_identity_role=pod_identity,
        **ran,
    )


def _wait_for_association(cluster: Cluster, file: PodIdentityFile, namespace: str, account: str) -> None:
    """The webhook reloads the associations file on change; dry-run pods show when it has."""
    file.write([(namespace, account)])
    until_pods_show(
        lambda: cluster.create_pod(namespace, pod(service_account=account), dryRun="All"),
        expected=lambda stored: "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env_of(stored, "app"),
    )


def _subject(pods: Pods, account: str) -> str:
    return f"system:serviceaccount:{pods.namespace}:{account}"


def test_the_sdk_in_a_pod_gets_credentials_for_its_serviceaccounts_role(pods: Pods) -> None:
    assert pods.irsa.credentials["outcome"] == "credentials", pods.irsa.credentials
    assert pods.irsa.credentials["method"] == "assume-role-with-web-identity"
    assert pods.irsa.credentials["arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/checkout/")


def test_the_pod_is_stored_with_the_role_and_the_token_volume(pods: Pods) -> None:
    assert irsa_problems(pods.irsa.stored, role_arn=pods.checkout_role, region=REGION) == []


def test_the_token_file_the_variable_names_holds_a_token_for_sts_and_the_serviceaccount(pods: Pods) -> None:
    problems = token_problems(
        pods.irsa.token(WEB_IDENTITY),
        audience="sts.amazonaws.com",
        namespace=pods.namespace,
        service_account="checkout",
        issuer=ISSUER,
        lifetime=DEFAULT_TOKEN_EXPIRATION,
    )
    assert problems == []


def test_a_non_root_container_reads_the_token_through_its_fsgroup(pods: Pods) -> None:
    assert pods.irsa.report["uid"] == NON_ROOT["runAsUser"]
    assert NON_ROOT["fsGroup"] in pods.irsa.report["groups"]
    assert pods.irsa.token(WEB_IDENTITY)


def test_the_process_sees_the_role_token_file_and_region(pods: Pods) -> None:
    expected = {
        "AWS_ROLE_ARN": pods.checkout_role,
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    assert environment_problems(pods.irsa.environment_lines(), expected) == []


def test_a_pod_whose_serviceaccount_has_no_role_finds_no_credentials(pods: Pods, aws: LocalAws) -> None:
    assert untouched_problems(pods.no_role.stored) == []
    assert pods.no_role.credentials == {"outcome": "no credentials"}
    assert aws.decisions_for(_subject(pods, "no-role")) == []


def test_a_serviceaccount_naming_a_role_that_does_not_trust_it_is_refused(pods: Pods, aws: LocalAws) -> None:
    assert pods.someone_elses_role.environment["AWS_ROLE_ARN"] == pods.checkout_role
    assert pods.someone_elses_role.credentials["code"] == "AccessDenied", pods.someone_elses_role.credentials
    assert {each.outcome for each in aws.decisions_for(_subject(pods, "intruder"))} == {"AccessDenied"}


def test_a_token_for_another_audience_is_not_accepted_by_sts(pods: Pods, aws: LocalAws) -> None:
    token = pods.other_audience.token(WEB_IDENTITY)
    assert jwt_claims(token)["aud"] == ["example.com"]
    assert pods.other_audience.credentials["code"] == "InvalidIdentityToken", pods.other_audience.credentials
    assert {each.outcome for each in aws.decisions_for(_subject(pods, "other-audience"))} == {
        "InvalidIdentityToken"
    }


def test_regional_sts_region_and_token_expiration_reach_the_process(pods: Pods) -> None:
    expected = {"AWS_STS_REGIONAL_ENDPOINTS": "regional", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
    assert environment_problems(pods.annotated.environment_lines(), expected) == []
    problems = token_problems(
        pods.annotated.token(WEB_IDENTITY),
        audience="sts.amazonaws.com",
        namespace=pods.namespace,
        service_account="regional",
        lifetime=3600,
    )
    assert problems == []
    assert pods.annotated.credentials["arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/regional/")


def test_a_pod_identity_pod_gets_its_associated_role_from_the_agent(pods: Pods) -> None:
    assert pods.pod_identity.credentials["outcome"] == "credentials", pods.pod_identity.credentials
    assert pods.pod_identity.credentials["method"] == "container-role"
    assert pods.pod_identity.credentials["arn"].startswith(
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/agent-client/"
    )


def test_a_pod_identity_pod_has_the_agents_token_and_variables(pods: Pods, aws_servers: Servers) -> None:
    assert pod_identity_problems(pods.pod_identity.stored, full_uri=aws_servers.agent_url) == []
    assert (
        token_problems(
            pods.pod_identity.token(POD_IDENTITY),
            audience="pods.eks.amazonaws.com",
            namespace=pods.namespace,
            service_account="agent-client",
            issuer=ISSUER,
        )
        == []
    )
    expected = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": aws_servers.agent_url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": (
            "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
        ),
    }
    assert environment_problems(pods.pod_identity.environment_lines(), expected) == []
    assert "AWS_ROLE_ARN" not in pods.pod_identity.environment
