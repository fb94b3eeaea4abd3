"""`oidc discovery --from-cluster`: publish exactly the keys and issuer the API server uses.

The API server here is the in-test stand-in, which negotiates content as kube-apiserver does (406 to the
JWKS unless `application/jwk-set+json` is acceptable); `tests/apiserver/test_tokens.py` runs the command
against the real one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.fake_apiserver import FAKE_TOKEN, FakeApiServer
from tests.tools.oidc.test_discovery import ISSUER, sign_token, verify_with_jwks
from webhook.cli import main
from webhook.tools.oidc_discovery import jwks_from_keys


@pytest.fixture
def cluster_jwks(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> dict[str, Any]:
    """What kube-apiserver serves at /openid/v1/jwks while rotating from an RSA to an EC key."""
    return {"keys": jwks_from_keys([(rsa_key.public_key(), "rsa"), (ec_keys["ES256"].public_key(), "ec")])}


def serve(fake_apiserver: FakeApiServer, jwks: dict[str, Any], *, issuer: str = ISSUER) -> None:
    fake_apiserver.serve_issuer_discovery({"issuer": issuer, "jwks_uri": f"{issuer}/openid/v1/jwks"}, jwks)


def from_cluster(kubeconfig: Path, tmp_path: Path, *arguments: str) -> int:
    return main(["oidc", "discovery", "--from-cluster", "--kubeconfig", str(kubeconfig),
                 "--out-dir", str(tmp_path / "out"), *arguments])  # fmt: skip


def test_publishes_the_clusters_issuer_and_keys_so_its_tokens_verify(
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    cluster_jwks: dict[str, Any],
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    tmp_path: Path,
) -> None:
    serve(fake_apiserver, cluster_jwks)

    assert from_cluster(fake_kubeconfig, tmp_path) == 0

    configuration = json.loads((tmp_path / "out" / ".well-known" / "openid-configuration").read_text())
    jwks = json.loads((tmp_path / "out" / "keys.json").read_text())
    assert configuration["issuer"] == ISSUER
    assert configuration["jwks_uri"] == f"{ISSUER}/keys.json"
    assert configuration["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert jwks == cluster_jwks
    assert verify_with_jwks(sign_token(rsa_key, algorithm="RS256"), jwks)["iss"] == ISSUER
    assert verify_with_jwks(sign_token(ec_keys["ES256"], algorithm="ES256"), jwks)["iss"] == ISSUER
    assert {request.authorization for request in fake_apiserver.requests} == {f"Bearer {FAKE_TOKEN}"}


def test_an_issuer_other_than_the_clusters_is_written_with_a_warning(
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    cluster_jwks: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve(fake_apiserver, cluster_jwks, issuer="https://kubernetes.default.svc")

    assert from_cluster(fake_kubeconfig, tmp_path, "--issuer", ISSUER) == 0

    configuration = json.loads((tmp_path / "out" / ".well-known" / "openid-configuration").read_text())
    assert configuration["issuer"] == ISSUER
    warning = capsys.readouterr().err
    assert warning.startswith("pod-identity-webhook: warning: the cluster signs tokens with issuer")
    assert "'https://kubernetes.default.svc'" in warning
    assert f"make {ISSUER!r} the API server's first --service-account-issuer" in warning


def test_a_cluster_issuer_ending_in_a_slash_is_named_in_a_warning(
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    cluster_jwks: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve(fake_apiserver, cluster_jwks, issuer=f"{ISSUER}/")

    assert from_cluster(fake_kubeconfig, tmp_path) == 0

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


def one_line_error(status: int, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    """The error of a run that must fail with exit status 1, one line, and nothing written."""
    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert not (tmp_path / "out").exists()
    return error


def test_a_cluster_without_issuer_discovery_is_told_which_versions_serve_it(
    fake_kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = one_line_error(from_cluster(fake_kubeconfig, tmp_path), capsys, tmp_path)

    assert "does not serve /.well-known/openid-configuration" in error
    assert (
        "on by default from Kubernetes 1.20 (1.18 and 1.19: --feature-gates=ServiceAccountIssuerDiscovery"
        in error
    )
    assert "1.21" not in error
    assert "--issuer URL --key FILE" in error


@pytest.mark.parametrize(
    ("code", "explanation"),
    [
        (401, "401 Unauthorized for /.well-known/openid-configuration: it does not accept the kubeconfig's"),
        (403, "403 Forbidden for /.well-known/openid-configuration: may this user read it (ClusterRole "
              "system:service-account-issuer-discovery)?"),
    ],
    ids=["unauthorized", "forbidden"],
)  # fmt: skip
def test_a_refused_user_is_sent_to_its_credentials_or_rbac(
    code: int,
    explanation: str,
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    cluster_jwks: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve(fake_apiserver, cluster_jwks)
    fake_apiserver.fail_next("get", code)

    error = one_line_error(from_cluster(fake_kubeconfig, tmp_path), capsys, tmp_path)

    assert f"the API server answered {explanation}" in error


@pytest.mark.parametrize("code", [406, 500, 503])
def test_other_refusals_say_what_the_server_said_and_do_not_blame_permissions(
    code: int,
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    cluster_jwks: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve(fake_apiserver, cluster_jwks)
    fake_apiserver.fail_next("get", code)

    error = one_line_error(from_cluster(fake_kubeconfig, tmp_path), capsys, tmp_path)

    assert f"the API server answered {code} " in error
    assert error.rstrip().endswith(f"for /.well-known/openid-configuration: injected {code}")
    assert "ClusterRole" not in error
    assert "credentials" not in error


@pytest.mark.parametrize(
    ("configuration", "jwks", "message"),
    [
        ({"jwks_uri": "x"}, {"keys": []}, 'has no "issuer"'),
        ({"issuer": ISSUER}, {"keys": []}, 'expected a JWKS with a non-empty "keys" list'),
        (
            {"issuer": "http://plain.example.com"},
            {"keys": [{"kty": "RSA", "kid": "k", "alg": "RS256"}]},
            "must start with https://",
        ),
    ],
    ids=["no issuer", "no keys", "cluster issuer not https"],
)
def test_documents_that_cannot_be_published_are_a_one_line_error(
    configuration: dict[str, Any],
    jwks: dict[str, Any],
    message: str,
    fake_apiserver: FakeApiServer,
    fake_kubeconfig: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_apiserver.serve_issuer_discovery(configuration, jwks)

    error = one_line_error(from_cluster(fake_kubeconfig, tmp_path), capsys, tmp_path)

    assert message in error


def test_unreachable_cluster_is_a_one_line_error(
    fake_apiserver: FakeApiServer, fake_kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_apiserver.stop()

    error = one_line_error(from_cluster(fake_kubeconfig, tmp_path), capsys, tmp_path)

    assert "cannot reach the API server for /.well-known/openid-configuration" in error
