"""The two documents that make a cluster's ServiceAccount token issuer an OIDC provider IAM can trust.

IAM fetches `<issuer>/.well-known/openid-configuration`, follows its `jwks_uri`, and checks each token's
signature with the key whose `kid` the token names. kube-apiserver writes into every token the `kid`
it derives from the signing key (`keyIDFromPublicKey`: base64url without padding of the SHA-256 of the
DER SubjectPublicKeyInfo), so the published JWKS must derive it in exactly the same way, or no token
ever verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from webhook.cluster.kube_json import KubeJson
from webhook.errors import ConfigurationError
from webhook.tools.oidc_issuer import IssuerUrl

DISCOVERY_PATH = ".well-known/openid-configuration"
DEFAULT_JWKS_NAME = "keys.json"
CLUSTER_JWKS_PATH = "/openid/v1/jwks"
CLUSTER_DISCOVERY_PATH = "/.well-known/openid-configuration"
CLUSTER_ACCEPT = "application/jwk-set+json, application/json"
"""kube-apiserver serves the JWKS only as `application/jwk-set+json` and the discovery document only as
`application/json`, and answers 406 to an Accept header that names neither exactly; one header for both."""

_CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_JWK_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
_IGNORED_PEM_BLOCKS = {b"EC PARAMETERS"}
"""`openssl ecparam -genkey` writes the curve parameters before the key; they carry no key."""
_SUPPORTED = "kube-apiserver signs ServiceAccount tokens only with RSA or ECDSA P-256/P-384/P-521 keys"

Jwk = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryDocuments:
    """What to publish for one issuer: the discovery document and the JWKS."""

    configuration: dict[str, Any]
    jwks: dict[str, list[Jwk]]
    jwks_path: PurePosixPath | None
    """Where keys.json goes under the issuer, or None when `jwks_uri` is not a plain path under it."""

    def write(self, out_dir: Path) -> list[tuple[Path, str]]:
        """Write the documents in the layout of the issuer URL, so `out_dir` can be uploaded as is.

        Returns each file written with the URL it must be served at.
        """
        targets = (
            (
                out_dir / DISCOVERY_PATH,
                f"{self.configuration['issuer']}/{DISCOVERY_PATH}",
                self.configuration,
            ),
            (out_dir / (self.jwks_path or DEFAULT_JWKS_NAME), self.configuration["jwks_uri"], self.jwks),
        )
        for path, _, document in targets:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            except OSError as error:
                raise ConfigurationError(f"cannot write {path}: {error.strerror or error}") from error
        return [(path, url) for path, url, _ in targets]


def key_id(key: PublicKeyTypes) -> str:
    """The `kid` kube-apiserver puts in the tokens it signs with `key`."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def jwk_from_public_key(key: PublicKeyTypes, *, source: str) -> Jwk:
    """The JWK of an RSA or EC public key; raises ConfigurationError for a type the API server cannot use."""
    if isinstance(key, rsa.RSAPublicKey):
        modulus = key.public_numbers()
        return {
            "use": "sig",
            "kty": "RSA",
            "kid": key_id(key),
            "alg": "RS256",
            "n": _b64url(_unsigned_bytes(modulus.n)),
            "e": _b64url(_unsigned_bytes(modulus.e)),
        }
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = _CURVE_ALGORITHMS.get(key.curve.name)
        if algorithm is None:
            raise ConfigurationError(f"{source}: EC curve {key.curve.name} is not supported: {_SUPPORTED}")
        size = (key.curve.key_size + 7) // 8
        point = key.public_numbers()
        return {
            "use": "sig",
            "kty": "EC",
            "kid": key_id(key),
            "crv": _JWK_CURVES[key.curve.name],
            "alg": algorithm,
            "x": _b64url(point.x.to_bytes(size, "big")),
            "y": _b64url(point.y.to_bytes(size, "big")),
        }
    kind = type(key).__name__.removesuffix("PublicKey").removeprefix("_")
    raise ConfigurationError(f"{source}: {kind} keys are not supported: {_SUPPORTED}")


def load_public_keys(path: Path) -> list[PublicKeyTypes]:
    """Every public key in a PEM or DER file of public keys, private keys or certificates.

    Like kube-apiserver's `--service-account-key-file`, one PEM file may hold several keys.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"cannot read key file {path}: {error.strerror or error}") from error
    if b"-----BEGIN" not in data:
        return [_load_der(data, source=str(path))]
    keys = []
    for index, match in enumerate(_PEM_BLOCK.finditer(data)):
        label = match.group(1)
        if label in _IGNORED_PEM_BLOCKS:
            continue
        keys.append(_load_pem_block(label, match.group(0), source=f"{path} (PEM block {index + 1})"))
    if not keys:
        raise ConfigurationError(f"{path}: no public key, private key or certificate found in the PEM data")
    return keys


def jwks_from_keys(keys: Iterable[tuple[PublicKeyTypes, str]]) -> list[Jwk]:
    """JWKs for (key, source) pairs, in the order given, each key once however often it appears."""
    return _dedupe(jwk_from_public_key(key, source=source) for key, source in keys)


def jwks_from_cluster(document: Any, *, source: str) -> list[Jwk]:
    """The keys of the API server's own `/openid/v1/jwks`, checked to be a usable JWKS."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigurationError(f'{source}: expected a JWKS with a non-empty "keys" list')
    for index, key in enumerate(keys):
        if not isinstance(key, dict) or not all(isinstance(key.get(field), str) for field in ("kty", "kid")):
            raise ConfigurationError(f'{source}: keys[{index}] is not a JWK with "kty" and "kid"')
    return _dedupe(keys)


def build_documents(*, issuer: IssuerUrl, jwks_uri: str | None, keys: Sequence[Jwk]) -> DiscoveryDocuments:
    """The discovery document and JWKS for `issuer`; `jwks_uri` defaults to `<issuer>/keys.json`."""
    if not keys:
        raise ConfigurationError("no signing keys: give --key FILE (repeatable) or --from-cluster")
    uri = jwks_uri or f"{issuer.url}/{DEFAULT_JWKS_NAME}"
    if not uri.startswith("https://"):
        raise ConfigurationError(f"jwks_uri {uri!r} must start with https://: IAM fetches it over HTTPS")
    if not urlsplit(uri).hostname:
        raise ConfigurationError(f"jwks_uri {uri!r} has no host name")
    if uri.endswith("/"):
        raise ConfigurationError(f"jwks_uri {uri!r} ends with '/': it must name the file that holds the keys")
    relative = uri.removeprefix(f"{issuer.url}/") if uri.startswith(f"{issuer.url}/") else ""
    if relative == DISCOVERY_PATH:
        raise ConfigurationError(f"jwks_uri {uri!r} is where the discovery document itself is served")
    if "?" in relative or "#" in relative or any(part in ("", ".", "..") for part in relative.split("/")):
        relative = ""  # not a plain file path under the issuer: written as keys.json, served where it says
    configuration = {
        "issuer": issuer.url,
        "jwks_uri": uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted({key["alg"] for key in keys if "alg" in key}),
    }
    return DiscoveryDocuments(
        configuration=configuration,
        jwks={"keys": list(keys)},
        jwks_path=PurePosixPath(relative) if relative else None,
    )


def read_cluster_issuer_and_keys(cluster: KubeJson) -> tuple[str, list[Jwk]]:
    """The issuer the API server announces (the `iss` of every token it signs) and its signing keys."""
    configuration = _get_cluster_json(cluster, CLUSTER_DISCOVERY_PATH)
    issuer = configuration.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise ConfigurationError(f'the API server\'s {CLUSTER_DISCOVERY_PATH} has no "issuer"')
    keyset = _get_cluster_json(cluster, CLUSTER_JWKS_PATH)
    return issuer, jwks_from_cluster(keyset, source=f"the API server's {CLUSTER_JWKS_PATH}")


def _get_cluster_json(cluster: KubeJson, path: str) -> dict[str, Any]:
    try:
        document = cluster.get(path, accept=CLUSTER_ACCEPT)
    except ApiException as error:
        raise ConfigurationError(_refusal(error, path)) from error
    except (HTTPError, OSError) as error:
        raise ConfigurationError(f"cannot reach the API server for {path}: {error}") from error
    except ValueError as error:
        raise ConfigurationError(f"the API server's {path} is not JSON: {error}") from error
    if document is None:
        raise ConfigurationError(
            f"the API server does not serve {path}: ServiceAccount issuer discovery is on by default from "
            "Kubernetes 1.20 (1.18 and 1.19: --feature-gates=ServiceAccountIssuerDiscovery=true); without "
            "it, give --issuer URL --key FILE with the API server's --service-account-key-file"
        )
    return document


def _refusal(error: ApiException, path: str) -> str:
    """Why the API server refused `path`: only 401 and 403 are about who asks; anything else names what
    the server itself said, so the operator is not sent to fix permissions that are fine."""
    answered = f"the API server answered {error.status} {error.reason} for {path}"
    if error.status == HTTPStatus.UNAUTHORIZED:
        return f"{answered}: it does not accept the kubeconfig's credentials"
    if error.status == HTTPStatus.FORBIDDEN:
        return f"{answered}: may this user read it (ClusterRole system:service-account-issuer-discovery)?"
    said = _status_message(error.body)
    return f"{answered}: {said}" if said else answered


def _status_message(body: Any) -> str:
    """The `message` of the Status the API server sent with an error, if it sent one."""
    try:
        status = json.loads(body) if isinstance(body, (str, bytes)) else None
    except ValueError:
        return ""
    message = status.get("message") if isinstance(status, dict) else None
    return message.strip() if isinstance(message, str) else ""


def _load_pem_block(label: bytes, block: bytes, *, source: str) -> PublicKeyTypes:
    try:
        if label == b"CERTIFICATE":
            return x509.load_pem_x509_certificate(block).public_key()
        if label.endswith(b"PUBLIC KEY"):
            return serialization.load_pem_public_key(block)
        if label == b"ENCRYPTED PRIVATE KEY":
            raise ConfigurationError(f"{source}: the private key is encrypted; give its public key instead")
        if label.endswith(b"PRIVATE KEY"):
            return serialization.load_pem_private_key(block, password=None).public_key()
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"{source}: cannot read the {label.decode()}: {error}") from error
    except UnsupportedAlgorithm as error:
        raise ConfigurationError(f"{source}: {error}; {_SUPPORTED}") from error
    raise ConfigurationError(f"{source}: a {label.decode()} is not a key or certificate")


def _load_der(data: bytes, *, source: str) -> PublicKeyTypes:
    loaders: tuple[Callable[[], PublicKeyTypes], ...] = (
        lambda: serialization.load_der_public_key(data),
        lambda: serialization.load_der_private_key(data, password=None).public_key(),
        lambda: x509.load_der_x509_certificate(data).public_key(),
    )
    for load in loaders:
        try:
            return load()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    raise ConfigurationError(f"{source}: not a PEM or DER public key, private key or certificate")


def _dedupe(keys: Iterable[Mapping[str, Any]]) -> list[Jwk]:
    unique: dict[str, Jwk] = {}
    for key in keys:
        unique.setdefault(key["kid"], dict(key))
    return list(unique.values())


def _unsigned_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
