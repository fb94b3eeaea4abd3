"""`oidc discovery --from-cluster`: publish exactly the keys and issuer the API server uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.tools.oidc.oidc_artefacts import IssuerDiscoveryStub
from tests.tools.oidc.test_discovery import ISSUER, sign_token, verify_with_jwks
from webhook.cli import main
from webhook.tools.oidc_discovery import jwks_from_keys

StartStub = Callable[[dict[str, tuple[int, Any]]], IssuerDiscoveryStub]
TOKEN = "stub-bearer-token"


@pytest.fixture
def cluster_jwks(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> dict[str, Any]:
    """What kube-apiserver serves at /openid/v1/jwks while rotating from an RSA to an EC key."""
    return {"keys": jwks_from_keys([(rsa_key.public_key(), "rsa"), (ec_keys["ES256"].public_key(), "ec")])}


def cluster_responses(jwks: dict[str, Any], *, issuer: str = ISSUER) -> dict[str, tuple[int, Any]]:
    return {
        "/.well-known/openid-configuration": (
            200,
            {"issuer": issuer, "jwks_uri": f"{issuer}/openid/v1/jwks"},
        ),
        "/openid/v1/jwks": (200, jwks),
    }


def from_cluster(stub: IssuerDiscoveryStub, tmp_path: Path, *arguments: str) -> int:
    kubeconfig = stub.write_kubeconfig(tmp_path / "kubeconfig", token=TOKEN)
    return main(["oidc", "discovery", "--from-cluster", "--kubeconfig", str(kubeconfig),
                 "--out-dir", str(tmp_path / "out"), *arguments])  # fmt: skip


def test_publishes_the_clusters_issuer_and_keys_so_its_tokens_verify(
    issuer_discovery_stub: StartStub,
    cluster_jwks: dict[str, Any],
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    tmp_path: Path,
) -> None:
    stub = issuer_discovery_stub(cluster_responses(cluster_jwks))

    assert from_cluster(stub, tmp_path) == 0

    configuration = json.loads((tmp_path / "out" / ".well-known" / "openid-configuration").read_text())
    jwks = json.loads((tmp_path / "out" / "keys.json").read_text())
    assert configuration["issuer"] == ISSUER
    assert configuration["jwks_uri"] == f"{ISSUER}/keys.json"
    assert configuration["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert jwks == cluster_jwks
    assert verify_with_jwks(sign_token(rsa_key, algorithm="RS256"), jwks)["iss"] == ISSUER
    assert verify_with_jwks(sign_token(ec_keys["ES256"], algorithm="ES256"), jwks)["iss"] == ISSUER
    assert set(stub.authorizations) == {f"Bearer {TOKEN}"}


def test_an_issuer_other_than_the_clusters_is_written_with_a_warning(
    issuer_discovery_stub: StartStub,
    cluster_jwks: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stub = issuer_discovery_stub(cluster_responses(cluster_jwks, issuer="https://kubernetes.default.svc"))

    assert from_cluster(stub, tmp_path, "--issuer", ISSUER) == 0

    configuration = json.loads((tmp_path / "out" / ".well-known" / "openid-configuration").read_text())
    assert configuration["issuer"] == ISSUER
    warning = capsys.readouterr().err
    assert warning.startswith("pod-identity-webhook: warning: the cluster signs tokens with issuer")
    assert "'https://kubernetes.default.svc'" in warning
    assert f"make {ISSUER!r} the API server's first --service-account-issuer" in warning


def test_a_cluster_issuer_ending_in_a_slash_is_named_in_a_warning(
    issuer_discovery_stub: StartStub,
    cluster_jwks: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stub = issuer_discovery_stub(cluster_responses(cluster_jwks, issuer=f"{ISSUER}/"))

    assert from_cluster(stub, tmp_path) == 0

    warning = capsys.readouterr().err
    assert f"the cluster signs tokens with issuer '{ISSUER}/', which ends in '/'" in warning
    assert warning.count("\n") == 1


def test_without_a_cluster_the_error_names_the_offline_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))

    status = main(["oidc", "discovery", "--from-cluster", "--out-dir", str(tmp_path / "out")])

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert "or --issuer URL --key FILE to run without a cluster" in error


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({}, "does not serve /.well-known/openid-configuration: ServiceAccount issuer discovery needs"),
        ({"/.well-known/openid-configuration": (403, {"kind": "Status"})}, "answered 403"),
        ({"/.well-known/openid-configuration": (200, {"jwks_uri": "x"})}, 'has no "issuer"'),
        (
            {
                "/.well-known/openid-configuration": (200, {"issuer": ISSUER}),
                "/openid/v1/jwks": (200, {"keys": []}),
            },
            'expected a JWKS with a non-empty "keys" list',
        ),
        (
            {
                "/.well-known/openid-configuration": (200, {"issuer": "http://plain.example.com"}),
                "/openid/v1/jwks": (200, {"keys": [{"kty": "RSA", "kid": "k", "alg": "RS256"}]}),
            },
            "must start with https://",
        ),
    ],
    ids=["old cluster", "forbidden", "no issuer", "no keys", "cluster issuer not https"],
)
def test_cluster_that_cannot_be_published_is_a_one_line_error(
    responses: dict[str, tuple[int, Any]],
    message: str,
    issuer_discovery_stub: StartStub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stub = issuer_discovery_stub(responses)

    status = from_cluster(stub, tmp_path)

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert message in error
    assert not (tmp_path / "out").exists()


def test_unreachable_cluster_is_a_one_line_error(
    issuer_discovery_stub: StartStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = issuer_discovery_stub({})
    kubeconfig = stub.write_kubeconfig(tmp_path / "kubeconfig", token=TOKEN)
    stub.stop()

    status = main(["oidc", "discovery", "--from-cluster", "--kubeconfig", str(kubeconfig),
                   "--out-dir", str(tmp_path / "out")])  # fmt: skip

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert "cannot reach the API server for /.well-known/openid-configuration" in error
