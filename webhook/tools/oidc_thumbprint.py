"""The certificate thumbprint IAM asks for when an OIDC provider is created.

IAM wants the SHA-1 fingerprint of the top intermediate CA of the chain the issuer's host serves (the
root when the server sends only leaf and root). The chain is read as served, without verifying it:
self-hosted issuers often use private CAs, and the thumbprint is how IAM learns to trust them.

Python's `ssl` exposes the served chain publicly only from 3.13 (`SSLSocket.get_unverified_chain`);
3.11 and 3.12 have the same method on the private `_sslobj`. Using it keeps this a standard-library
feature instead of adding pyOpenSSL for one call.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from webhook.errors import ConfigurationError
from webhook.tools.oidc_issuer import IssuerUrl

_DER = 2
"""`_ssl.ENCODING_DER`, for the certificate objects the 3.11/3.12 private method returns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainCertificate:
    subject: str
    issuer: str
    not_after: datetime
    sha1: str
    sha256: str
    self_signed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedChain:
    """The certificates in the order the server sent them (leaf first) and which one IAM asks for."""

    certificates: tuple[ChainCertificate, ...]
    selected: int

    @property
    def thumbprint(self) -> str:
        return self.certificates[self.selected].sha1

    @property
    def leaf_only(self) -> bool:
        """The server's own certificate, issued by a CA it did not send: the thumbprint is the leaf's, which
        a renewal changes."""
        return self.selected == 0 and not self.certificates[0].self_signed


def issuer_thumbprint(issuer: IssuerUrl, *, timeout: float) -> ServedChain:
    """Connect to the issuer's host and pick the certificate whose SHA-1 IAM wants."""
    return describe_chain(fetch_served_chain(host=issuer.host, port=issuer.port, timeout=timeout))


def fetch_served_chain(*, host: str, port: int, timeout: float) -> list[bytes]:
    """The DER certificates the server presents for `host` (sent as SNI), unverified, leaf first."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    where = f"{host}:{port}"
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return _unverified_chain(tls)
    except socket.gaierror as error:
        raise ConfigurationError(f"cannot resolve issuer host {host!r}: {error.strerror}") from error
    except ssl.SSLError as error:
        raise ConfigurationError(f"TLS handshake with {where} failed: {error.reason or error}") from error
    except TimeoutError as error:
        raise ConfigurationError(f"cannot reach {where}: no answer within {timeout:g}s") from error
    except OSError as error:
        raise ConfigurationError(f"cannot reach {where}: {error.strerror or error}") from error


def describe_chain(chain: Sequence[bytes]) -> ServedChain:
    """Read the served chain and select the top intermediate CA (or the root, or a lone certificate)."""
    if not chain:
        raise ConfigurationError("the server presented no certificate")
    try:
        parsed = [x509.load_der_x509_certificate(der) for der in chain]
    except ValueError as error:
        raise ConfigurationError(
            f"the server presented a certificate that cannot be read: {error}"
        ) from error
    certificates = tuple(
        ChainCertificate(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc,
            sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest(),
            sha256=hashlib.sha256(der).hexdigest(),
            self_signed=cert.subject == cert.issuer,
        )
        for cert, der in zip(parsed, chain, strict=True)
    )
    return ServedChain(certificates=certificates, selected=_select(parsed))


def _select(chain: Sequence[x509.Certificate]) -> int:
    """Index of the certificate IAM asks for.

    The path is followed by issuer names from the leaf, not by position: some servers send their chain
    out of order. The top intermediate is the last CA on that path that is not self-signed.
    """
    path = [0]
    while True:
        current = chain[path[-1]]
        if current.subject == current.issuer:
            break
        parent = next(
            (
                index
                for index, candidate in enumerate(chain)
                if index not in path and candidate.subject == current.issuer
            ),
            None,
        )
        if parent is None:
            break
        path.append(parent)
    authorities = path[1:]
    intermediates = [index for index in authorities if chain[index].subject != chain[index].issuer]
    if intermediates:
        return intermediates[-1]
    if authorities:
        return authorities[-1]
    return 0


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return [bytes(der) for der in public()]
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if private is None:
        raise ConfigurationError("this Python's ssl module cannot return the served certificate chain")
    return [certificate.public_bytes(_DER) for certificate in private() or ()]
