"""`oidc discovery`: the published documents verify real tokens signed by real keys."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from tests.tools.oidc.oidc_artefacts import certificate, private_pem, public_pem
from webhook.cli import main

ISSUER = "https://oidc.example.com/cluster-1"
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


def kube_apiserver_kid(key: CertificateIssuerPrivateKeyTypes) -> str:
    """kube-apiserver's keyIDFromPublicKey, written out from its Go source."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def sign_token(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, algorithm: str, issuer: str = ISSUER
) -> str:
    """A ServiceAccount token as kube-apiserver would sign it."""
    claims = {
        "iss": issuer,
        "sub": "system:serviceaccount:default:s3-reader",
        "aud": ["sts.amazonaws.com"],
        "exp": 4102444800,
    }
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kube_apiserver_kid(key)})


def verify_with_jwks(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """What IAM does: pick the JWK the token's kid names, check the signature, audience and issuer."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=[key.algorithm_name], audience="sts.amazonaws.com", issuer=ISSUER
    )
    return claims


def write_key(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def discovery(out_dir: Path, *arguments: str, issuer: str = ISSUER) -> tuple[dict[str, Any], dict[str, Any]]:
    assert main(["oidc", "discovery", "--issuer", issuer, "--out-dir", str(out_dir), *arguments]) == 0
    configuration = json.loads((out_dir / ".well-known" / "openid-configuration").read_text())
    jwks = json.loads((out_dir / "keys.json").read_text())
    return configuration, jwks


KEY_FORMS: dict[str, Callable[[rsa.RSAPrivateKey], bytes]] = {
    "PKCS#1 private key": lambda key: private_pem(key, TRADITIONAL),
    "PKCS#8 private key": lambda key: private_pem(key, PKCS8),
    "public key": public_pem,
    "certificate": lambda key: certificate(subject="sa-signer", key=key, ca=False).public_bytes(PEM),
    "DER public key": lambda key: key.public_key().public_bytes(
        DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
    "DER PKCS#8 private key": lambda key: key.private_bytes(DER, PKCS8, serialization.NoEncryption()),
}


@pytest.mark.parametrize("form", KEY_FORMS)
def test_token_signed_by_rsa_key_verifies_against_published_jwks(
    form: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path / "sa.key", KEY_FORMS[form](rsa_key))

    _, jwks = discovery(tmp_path / "out", "--key", str(key_file))

    assert verify_with_jwks(sign_token(rsa_key, algorithm="RS256"), jwks)["sub"] == (
        "system:serviceaccount:default:s3-reader"
    )
    assert jwks["keys"] == [
        {
            "use": "sig",
            "kty": "RSA",
            "kid": kube_apiserver_kid(rsa_key),
            "alg": "RS256",
            "n": jwks["keys"][0]["n"],
            "e": "AQAB",
        }
    ]


@pytest.mark.parametrize("algorithm", ["ES256", "ES384", "ES512"])
@pytest.mark.parametrize("form", [TRADITIONAL, PKCS8, None], ids=["SEC1", "PKCS#8", "public"])
def test_token_signed_by_ec_key_verifies_against_published_jwks(
    algorithm: str,
    form: serialization.PrivateFormat | None,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    tmp_path: Path,
) -> None:
    key = ec_keys[algorithm]
    key_file = write_key(tmp_path / "sa.key", private_pem(key, form) if form else public_pem(key))

    configuration, jwks = discovery(tmp_path / "out", "--key", str(key_file))

    assert verify_with_jwks(sign_token(key, algorithm=algorithm), jwks)["iss"] == ISSUER
    (jwk,) = jwks["keys"]
    assert (jwk["kty"], jwk["alg"], jwk["kid"], jwk["use"]) == (
        "EC",
        algorithm,
        kube_apiserver_kid(key),
        "sig",
    )
    assert jwk["crv"] == {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[algorithm]
    assert configuration["id_token_signing_alg_values_supported"] == [algorithm]


def test_ec_coordinates_keep_their_leading_zero_bytes(tmp_path: Path) -> None:
    """go-jose pads x and y to the curve size; a short coordinate must not be published shorter."""
    key = next(
        candidate
        for candidate in (ec.derive_private_key(secret, ec.SECP256R1()) for secret in range(1, 100_000))
        if candidate.public_key().public_numbers().x < 2**248
    )
    key_file = write_key(tmp_path / "sa.pub", public_pem(key))

    _, jwks = discovery(tmp_path / "out", "--key", str(key_file))

    x = jwks["keys"][0]["x"]
    assert len(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))) == 32


def test_discovery_document_names_the_issuer_and_every_key_algorithm(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey], tmp_path: Path
) -> None:
    rsa_file = write_key(tmp_path / "rsa.pub", public_pem(rsa_key))
    ec_file = write_key(tmp_path / "ec.pub", public_pem(ec_keys["ES384"]))

    configuration, _ = discovery(
        tmp_path / "out", "--key", str(ec_file), "--key", str(rsa_file), issuer=ISSUER + "/"
    )

    assert configuration == {
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/keys.json",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES384", "RS256"],
    }


def test_rotation_publishes_old_and_new_key_so_tokens_of_both_verify(
    rsa_key: rsa.RSAPrivateKey, second_rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    old = write_key(tmp_path / "old.key", private_pem(rsa_key, PKCS8))
    new = write_key(tmp_path / "new.key", private_pem(second_rsa_key, PKCS8))

    _, jwks = discovery(tmp_path / "out", "--key", str(old), "--key", str(new))

    assert [key["kid"] for key in jwks["keys"]] == [
        kube_apiserver_kid(rsa_key),
        kube_apiserver_kid(second_rsa_key),
    ]
    for key in (rsa_key, second_rsa_key):
        assert verify_with_jwks(sign_token(key, algorithm="RS256"), jwks)["iss"] == ISSUER


def test_the_same_key_given_twice_is_published_once(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    private = write_key(tmp_path / "sa.key", private_pem(rsa_key, TRADITIONAL))
    public = write_key(tmp_path / "sa.pub", public_pem(rsa_key))

    _, jwks = discovery(tmp_path / "out", "--key", str(private), "--key", str(public))

    assert [key["kid"] for key in jwks["keys"]] == [kube_apiserver_kid(rsa_key)]


def test_one_pem_file_with_several_keys_publishes_each(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey], tmp_path: Path
) -> None:
    """Like kube-apiserver's --service-account-key-file; `openssl ecparam -genkey` parameters are skipped."""
    ec_key = ec_keys["ES256"]
    parameters = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    bundle = write_key(
        tmp_path / "keys.pem", public_pem(rsa_key) + parameters + private_pem(ec_key, TRADITIONAL)
    )

    _, jwks = discovery(tmp_path / "out", "--key", str(bundle))

    assert [key["kid"] for key in jwks["keys"]] == [kube_apiserver_kid(rsa_key), kube_apiserver_kid(ec_key)]


@pytest.mark.parametrize(
    ("jwks_uri", "jwks_file"),
    [
        (None, "keys.json"),
        (f"{ISSUER}/openid/v1/jwks", "openid/v1/jwks"),
        ("https://keys.example.com/cluster-1.json", "keys.json"),
        (f"{ISSUER}/../escape.json", "keys.json"),
        (f"{ISSUER}//tmp/escape.json", "keys.json"),
    ],
    ids=["default", "under the issuer", "another host", "path leaving the output directory", "absolute path"],
)
def test_documents_are_laid_out_like_the_issuer_url_for_a_static_host(
    jwks_uri: str | None,
    jwks_file: str,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = write_key(tmp_path / "sa.pub", public_pem(rsa_key))
    out = tmp_path / "out"
    override = ["--jwks-uri", jwks_uri] if jwks_uri else []

    assert (
        main(
            [
                "oidc",
                "discovery",
                "--issuer",
                ISSUER,
                "--key",
                str(key_file),
                "--out-dir",
                str(out),
                *override,
            ]
        )
        == 0
    )

    written = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert written == sorted([".well-known/openid-configuration", jwks_file])
    served_at = jwks_uri or f"{ISSUER}/keys.json"
    configuration = json.loads((out / ".well-known" / "openid-configuration").read_text())
    assert configuration["jwks_uri"] == served_at
    assert f"wrote {out / jwks_file}, to be served at {served_at}" in capsys.readouterr().out.splitlines()


def test_a_key_that_signs_nothing_here_does_not_verify_tokens_of_another(
    rsa_key: rsa.RSAPrivateKey, second_rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = write_key(tmp_path / "sa.pub", public_pem(rsa_key))

    _, jwks = discovery(tmp_path / "out", "--key", str(key_file))

    with pytest.raises(StopIteration):
        verify_with_jwks(sign_token(second_rsa_key, algorithm="RS256"), jwks)


UNUSABLE_KEYS: dict[str, tuple[Callable[[], bytes], str]] = {
    "Ed25519": (
        lambda: private_pem(ed25519.Ed25519PrivateKey.generate(), PKCS8),
        "Ed25519 keys are not supported",
    ),
    "DSA": (lambda: public_pem(dsa.generate_private_key(key_size=1024)), "DSA keys are not supported"),
    "secp256k1": (
        lambda: public_pem(ec.generate_private_key(ec.SECP256K1())),
        "EC curve secp256k1 is not supported",
    ),
    "garbage": (lambda: b"this is not a key", "not a PEM or DER public key"),
    "broken PEM": (
        lambda: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "cannot read the PUBLIC KEY",
    ),
    "encrypted": (
        lambda: b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "is encrypted",
    ),
    "PEM without keys": (
        lambda: b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
        "no public key, private key or certificate",
    ),
}


@pytest.mark.parametrize("kind", UNUSABLE_KEYS)
def test_unusable_key_file_is_one_line_error(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_content, message = UNUSABLE_KEYS[kind]
    key_file = write_key(tmp_path / "sa.key", make_content())

    status = main(
        ["oidc", "discovery", "--issuer", ISSUER, "--key", str(key_file), "--out-dir", str(tmp_path)]
    )

    error = capsys.readouterr().err
    assert status == 1
    assert message in error
    assert error.count("\n") == 1
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("http://oidc.example.com", "must start with https://"),
        ("https://oidc.example.com/?cluster=1", "has a query string"),
        ("https://oidc.example.com/#keys", "has a fragment"),
        ("https://user:secret@oidc.example.com", "contains credentials"),
        ("https:///path-only", "has no host name"),
    ],
)
def test_issuer_iam_cannot_use_is_refused(
    issuer: str, message: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = write_key(tmp_path / "sa.pub", public_pem(rsa_key))

    status = main(
        ["oidc", "discovery", "--issuer", issuer, "--key", str(key_file), "--out-dir", str(tmp_path)]
    )

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert message in error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--key", "/nonexistent/sa.pub"], "cannot read key file /nonexistent/sa.pub"),
        ([], "give either --key FILE"),
        (["--jwks-uri", "http://keys.example.com/keys.json", "--key", "{key}"], "jwks_uri"),
        (["--jwks-uri", "https://", "--key", "{key}"], "has no host name"),
        (["--jwks-uri", f"{ISSUER}/keys/", "--key", "{key}"], "must name the file that holds the keys"),
        (
            ["--jwks-uri", f"{ISSUER}/.well-known/openid-configuration", "--key", "{key}"],
            "discovery document",
        ),
    ],
    ids=[
        "unreadable key",
        "no key source",
        "plain-HTTP jwks_uri",
        "no host",
        "a directory",
        "the discovery path",
    ],
)
def test_discovery_usage_errors_are_one_line(
    arguments: list[str],
    message: str,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = write_key(tmp_path / "sa.pub", public_pem(rsa_key))
    arguments = [argument.format(key=key_file) for argument in arguments]

    status = main(["oidc", "discovery", "--issuer", ISSUER, "--out-dir", str(tmp_path / "out"), *arguments])

    error = capsys.readouterr().err
    assert (status, error.count("\n")) == (1, 1)
    assert message in error
