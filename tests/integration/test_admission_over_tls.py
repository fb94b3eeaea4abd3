"""SPEC §4 end to end: the real server over TLS, answering AdmissionReviews as kube-apiserver sends them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.support import apply, container, pod
from tests.integration.conftest import ROLE_ARN
from tests.integration.server_process import Launch, RunningServer
from tests.server.reviews import admission_review, allowing_answer_patch, decoded_patch, from_replicaset
from tests.validation import assert_valid_pod

TOKEN_FILE = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"


def env_of(patched: dict[str, Any], index: int = 0) -> dict[str, str]:
    return {
        variable["name"]: variable.get("value", "")
        for variable in patched["spec"]["containers"][index]["env"]
    }


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_serving_certificate_verifies_against_the_ca_by_name_and_address(
    server: RunningServer, host: str
) -> None:
    with httpx.Client(verify=server.tls_context(), timeout=30) as client:
        response = client.get(f"https://{host}:{server.port}/livez")

    assert response.status_code == 200


def test_client_that_does_not_trust_the_ca_is_refused(server: RunningServer) -> None:
    with (
        httpx.Client(timeout=30) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"{server.url}/livez")


@pytest.mark.parametrize("path", ["/livez", "/healthz", "/readyz"])
def test_health_endpoints_answer_ok(client: httpx.Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_pod_of_a_deployment_gets_its_serviceaccount_role(client: httpx.Client, api_version: str) -> None:
    original = from_replicaset(pod(container("app"), container("proxy")))
    review = admission_review(original, api_version=api_version, uid="e911857d-c318-11e8-bbad-025000000001")

    response = client.post("/mutate", json=review)

    assert response.status_code == 200
    patched = apply(original, allowing_answer_patch(response.json(), review=review))
    assert_valid_pod(patched, original=original)
    for index in (0, 1):
        assert env_of(patched, index) == {
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_REGION": "eu-west-1",
            "AWS_ROLE_ARN": ROLE_ARN,
            "AWS_WEB_IDENTITY_TOKEN_FILE": TOKEN_FILE,
        }


def test_serviceaccount_settings_from_the_file_are_applied(client: httpx.Client) -> None:
    original = from_replicaset(pod(service_account="regional"))

    reply = client.post("/mutate", json=admission_review(original)).json()

    patched = apply(original, decoded_patch(reply))
    assert env_of(patched)["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    (token_volume,) = [volume for volume in patched["spec"]["volumes"] if volume["name"] == "aws-iam-token"]
    assert token_volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600


def test_dry_run_is_answered_like_a_real_request(client: httpx.Client) -> None:
    original = from_replicaset(pod())

    real = client.post("/mutate", json=admission_review(original, uid="same-uid")).json()
    dry = client.post("/mutate", json=admission_review(original, uid="same-uid", dry_run=True)).json()

    assert dry == real


@pytest.mark.parametrize(
    "service_account", [pytest.param("default", id="no-role"), pytest.param("ghost", id="not-in-file")]
)
def test_pod_without_a_role_is_allowed_unchanged(client: httpx.Client, service_account: str) -> None:
    review = admission_review(from_replicaset(pod(service_account=service_account)))

    reply = client.post("/mutate", json=review).json()

    assert reply["response"]["allowed"] is True
    assert decoded_patch(reply) == []


def test_misconfiguration_comes_back_as_warnings(client: httpx.Client) -> None:
    original = from_replicaset(pod(service_account="misconfigured"))

    reply = client.post("/mutate", json=admission_review(original)).json()

    warnings = reply["response"]["warnings"]
    assert any("checkout-role" in warning for warning in warnings)
    assert any("60" in warning for warning in warnings)
    assert_valid_pod(apply(original, decoded_patch(reply)), original=original)


def test_mutated_pod_sent_again_is_left_alone(client: httpx.Client) -> None:
    original = from_replicaset(pod())
    first = client.post("/mutate", json=admission_review(original)).json()

    again = client.post("/mutate", json=admission_review(apply(original, decoded_patch(first)))).json()

    assert decoded_patch(again) == []


def test_pod_identity_file_given_to_serve_switches_the_serviceaccount(launch: Launch, tmp_path: Path) -> None:
    associations = tmp_path / "pod-identity.json"
    associations.write_text(json.dumps({"identities": [{"namespace": "shop", "serviceAccount": "checkout"}]}))
    server = launch("--watch-container-credentials-config", str(associations))
    original = from_replicaset(pod())

    with server.client() as client:
        reply = client.post("/mutate", json=admission_review(original)).json()

    patched = apply(original, decoded_patch(reply))
    assert_valid_pod(patched, original=original)
    assert env_of(patched)["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://169.254.170.23/v1/credentials"
    assert "AWS_ROLE_ARN" not in env_of(patched)
    assert patched["metadata"]["labels"]["eks.amazonaws.com/pod-identity"] == "enabled"
