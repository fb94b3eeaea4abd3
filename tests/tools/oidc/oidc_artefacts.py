"""Real artefacts the OIDC tests make: keys in every file format, certificates, and a local TLS server."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


def private_pem(key: CertificateIssuerPrivateKeyTypes, form: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(PEM, form, serialization.NoEncryption())


def public_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(
    *,
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    issuer: tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None = None,
    ca: bool,
) -> x509.Certificate:
    """A certificate for `key`, signed by the (certificate, key) `issuer`, or self-signed without one."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer[0].subject if issuer else name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """root → intermediate → lower_intermediate → leaf, plus a leaf the root signs directly and a
    self-signed one; every leaf has `leaf_key`. All EC P-256, which is fast to generate."""

    root: x509.Certificate
    intermediate: x509.Certificate
    lower_intermediate: x509.Certificate
    leaf: x509.Certificate
    root_signed_leaf: x509.Certificate
    self_signed_leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey


class TlsServer:
    """Serves one fixed certificate chain on 127.0.0.1, completing the handshake and closing."""

    def __init__(
        self, *, chain: Sequence[x509.Certificate], key: ec.EllipticCurvePrivateKey, workdir: Path
    ) -> None:
        chain_file = workdir / "chain.pem"
        key_file = workdir / "key.pem"
        chain_file.write_bytes(b"".join(cert.public_bytes(PEM) for cert in chain))
        key_file.write_bytes(private_pem(key, serialization.PrivateFormat.PKCS8))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(chain_file, key_file)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(5)
            try:
                with self._context.wrap_socket(connection, server_side=True):
                    pass
            except OSError:
                connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self._listener.close()
