"""A token the real API server issues for IAM verifies against the documents `oidc discovery` publishes.

This is the whole IRSA chain short of AWS: kube-apiserver signs a TokenRequest token with the IRSA audience,
and IAM would check it against our `keys.json` by its `kid`. Both ways of making the documents are tried:
from the ServiceAccount public key file and from the running cluster (`--from-cluster`, which a stand-in
once let ship asking for a media type the real server refuses).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.apiserver.cluster import Cluster, Json
from tests.apiserver.control_plane import ISSUER, ControlPlane
from tests.tools.oidc.test_issuer_discovery_stand_in import ACCEPT_ANSWERS, ACCEPT_IDS
from webhook.tools.oidc_discovery import key_id

AUDIENCE = "sts.amazonaws.com"
SERVICE_ACCOUNT = "s3-reader"
CLI_LIMIT_SECONDS = 120
"""A bound for a command that takes about a second, not a measurement."""


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> str:
    name = cluster.namespace()
    cluster.service_account(name, SERVICE_ACCOUNT)
    return name


@pytest.fixture(scope="module")
def token(cluster: Cluster, namespace: str) -> str:
    """A token of the ServiceAccount for IAM's audience, as the kubelet requests it for a projected volume."""
    review = cluster.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{SERVICE_ACCOUNT}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [AUDIENCE], "expirationSeconds": 3600},
        },
    )
    issued: str = review["status"]["token"]
    return issued


def discovery(
    webhook_executable: list[str], repo_root: Path, out_dir: Path, arguments: Sequence[str]
) -> tuple[Json, Json]:
    """Run `oidc discovery` as an operator would; the discovery document and the JWKS it wrote."""
    completed = subprocess.run(
        [*webhook_executable, "oidc", "discovery", "--out-dir", str(out_dir), *arguments],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=CLI_LIMIT_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr
    configuration: Json = json.loads((out_dir / ".well-known" / "openid-configuration").read_text())
    jwks: Json = json.loads((out_dir / "keys.json").read_text())
    return configuration, jwks


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verified_claims(token: str, jwks: Json) -> dict[str, Any]:
    """What IAM does with a token: take the JWK its `kid` names and check the RS256 signature over
    header.payload with it (raises InvalidSignature when it does not verify); then the claims count."""
    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(_segment(header_part))
    assert header["alg"] == "RS256"
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    public_key = rsa.RSAPublicNumbers(
        e=int.from_bytes(_segment(jwk["e"]), "big"), n=int.from_bytes(_segment(jwk["n"]), "big")
    ).public_key()
    public_key.verify(
        _segment(signature_part),
        f"{header_part}.{payload_part}".encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(_segment(payload_part))
    return claims


def token_kid(token: str) -> str:
    kid: str = json.loads(_segment(token.split(".", maxsplit=1)[0]))["kid"]
    return kid


def the_api_servers_kid(plane: ControlPlane) -> str:
    """The `kid` kube-apiserver derives from its signing key, computed from the key file it was given."""
    public_key = serialization.load_pem_public_key(plane.pki.service_account_public_key.read_bytes())
    return key_id(public_key)


def assert_the_token_verifies(token: str, configuration: Json, jwks: Json, *, namespace: str) -> None:
    claims = verified_claims(token, jwks)
    assert claims["iss"] == configuration["issuer"] == ISSUER
    assert claims["aud"] == [AUDIENCE]
    assert claims["sub"] == f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"


def test_a_token_verifies_against_the_jwks_made_from_the_signing_key_file(
    token: str,
    namespace: str,
    session_plane: ControlPlane,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> None:
    arguments = ["--issuer", ISSUER, "--key", str(session_plane.pki.service_account_public_key)]

    configuration, jwks = discovery(webhook_executable, repo_root, tmp_path / "out", arguments)

    assert_the_token_verifies(token, configuration, jwks, namespace=namespace)
    assert [key["kid"] for key in jwks["keys"]] == [token_kid(token)] == [the_api_servers_kid(session_plane)]


def test_a_token_verifies_against_the_jwks_read_from_the_cluster(
    token: str,
    namespace: str,
    session_plane: ControlPlane,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> None:
    arguments = ["--from-cluster", "--kubeconfig", str(session_plane.kubeconfig)]

    configuration, jwks = discovery(webhook_executable, repo_root, tmp_path / "out", arguments)

    assert_the_token_verifies(token, configuration, jwks, namespace=namespace)
    assert [key["kid"] for key in jwks["keys"]] == [token_kid(token)] == [the_api_servers_kid(session_plane)]


def test_both_ways_publish_the_same_key(
    session_plane: ControlPlane, webhook_executable: list[str], repo_root: Path, tmp_path: Path
) -> None:
    from_key = ["--issuer", ISSUER, "--key", str(session_plane.pki.service_account_public_key)]
    from_cluster = ["--from-cluster", "--kubeconfig", str(session_plane.kubeconfig)]

    _, jwks_from_key = discovery(webhook_executable, repo_root, tmp_path / "key", from_key)
    _, jwks_from_cluster = discovery(webhook_executable, repo_root, tmp_path / "cluster", from_cluster)

    assert jwks_from_cluster == jwks_from_key


@pytest.mark.parametrize(("path", "accept", "status"), ACCEPT_ANSWERS, ids=ACCEPT_IDS)
def test_the_stand_ins_content_negotiation_is_the_real_api_servers(
    path: str, accept: str, status: int, session_plane: ControlPlane
) -> None:
    with session_plane.admin_client() as client:
        response = client.get(path, headers={"Accept": accept})

    assert response.status_code == status


def test_a_token_with_a_changed_claim_does_not_verify(
    token: str, session_plane: ControlPlane, webhook_executable: list[str], repo_root: Path, tmp_path: Path
) -> None:
    arguments = ["--issuer", ISSUER, "--key", str(session_plane.pki.service_account_public_key)]
    _, jwks = discovery(webhook_executable, repo_root, tmp_path / "out", arguments)
    header, payload, signature = token.split(".")
    claims = json.loads(_segment(payload))
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    with pytest.raises(InvalidSignature):
        verified_claims(f"{header}.{forged}.{signature}", jwks)
