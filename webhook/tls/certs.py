"""Certificates made and inspected with `cryptography` alone, so no openssl binary or cert-manager is needed.

A private CA (path length 0: it can sign serving certificates, never another CA) signs one serving
certificate for the webhook's DNS names and IP addresses. Every certificate is backdated by a few
minutes so an API server whose clock runs slightly behind ours still accepts it.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhook.errors import CertificateError

DEFAULT_CA_VALIDITY = timedelta(days=1825)
DEFAULT_CERT_VALIDITY = timedelta(days=365)
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
RENEWAL_FRACTION = 1 / 3
"""A certificate is renewed once less than this fraction of its lifetime is left."""
CA_COMMON_NAME = "pod-identity-webhook-ca"
MAX_COMMON_NAME = 64
MAX_DNS_NAME = 253
_DNS_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class KeyAlgorithm(enum.StrEnum):
    ECDSA_P256 = "ecdsa-p256"
    RSA_2048 = "rsa-2048"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPair:
    """A PEM certificate and its unencrypted PKCS#8 PEM private key."""

    cert: bytes
    key: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateBundle:
    """A CA and the serving certificate it signed, all PEM."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes

    @property
    def ca(self) -> KeyPair:
        return KeyPair(cert=self.ca_cert, key=self.ca_key)

    @property
    def serving(self) -> KeyPair:
        return KeyPair(cert=self.cert, key=self.key)


def utc_now() -> datetime:
    return datetime.now(UTC)


def generate_ca(
    *,
    validity: timedelta = DEFAULT_CA_VALIDITY,
    now: datetime | None = None,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
) -> KeyPair:
    """A self-signed CA; its name carries the issue time so old and new CAs in one bundle stay distinct."""
    issued = now or utc_now()
    key = _new_key(algorithm)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_COMMON_NAME}@{int(issued.timestamp())}")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(issued + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(certificate_authority=True, rsa_key=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert=_certificate_pem(certificate), key=_key_pem(key))


def issue_serving_certificate(
    *,
    ca: KeyPair,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    validity: timedelta = DEFAULT_CERT_VALIDITY,
    now: datetime | None = None,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
) -> KeyPair:
    """A serverAuth certificate for the given names, never outliving the CA that signs it."""
    if not dns_names and not ip_addresses:
        raise CertificateError("a serving certificate needs at least one DNS name or IP address")
    issued = now or utc_now()
    ca_certificate = load_certificate(ca.cert)
    ca_key = _load_signing_key(ca.key)
    key = _new_key(algorithm)
    alternative_names: list[x509.GeneralName] = [_dns_name(name) for name in dns_names]
    alternative_names += [x509.IPAddress(_ip_address(address)) for address in ip_addresses]
    # Clients check the alternative names; the common name is only a label, and X.509 caps it at 64
    # characters, while a DNS name may have 253. Without one, the subject is empty and the names critical.
    common_name = next((name for name in (*dns_names, *ip_addresses) if len(name) <= MAX_COMMON_NAME), None)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(min(issued + validity, ca_certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(certificate_authority=False, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=common_name is None)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert=_certificate_pem(certificate), key=_key_pem(key))


def generate_bundle(
    *,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    ca_validity: timedelta = DEFAULT_CA_VALIDITY,
    cert_validity: timedelta = DEFAULT_CERT_VALIDITY,
    now: datetime | None = None,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
) -> CertificateBundle:
    issued = now or utc_now()
    ca = generate_ca(validity=ca_validity, now=issued, algorithm=algorithm)
    serving = issue_serving_certificate(
        ca=ca,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        validity=cert_validity,
        now=issued,
        algorithm=algorithm,
    )
    return CertificateBundle(ca_cert=ca.cert, ca_key=ca.key, cert=serving.cert, key=serving.key)


def load_certificate(pem: bytes) -> x509.Certificate:
    """The first certificate of a PEM chain."""
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except ValueError as error:
        raise CertificateError(f"not a PEM certificate: {error}") from None


def load_private_key(pem: bytes) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise CertificateError(f"not an unencrypted PEM private key: {error}") from None


def not_after(pem: bytes) -> datetime:
    return load_certificate(pem).not_valid_after_utc


def issued_at(pem: bytes) -> datetime:
    """When a certificate made here was issued: its notBefore without the clock-skew backdating."""
    return load_certificate(pem).not_valid_before_utc + CLOCK_SKEW_ALLOWANCE


def is_expired(pem: bytes, *, now: datetime) -> bool:
    return now >= not_after(pem)


def in_renewal_window(pem: bytes, *, now: datetime, fraction: float = RENEWAL_FRACTION) -> bool:
    """True once less than `fraction` of the certificate's lifetime remains."""
    certificate = load_certificate(pem)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    return certificate.not_valid_after_utc - now < lifetime * fraction


def key_matches(*, cert: bytes, key: bytes) -> bool:
    public = load_certificate(cert).public_key()
    return public == load_private_key(key).public_key()


def covers_dns_names(pem: bytes, dns_names: Sequence[str]) -> bool:
    """Whether every name is among the certificate's DNS subject alternative names."""
    try:
        extension = load_certificate(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return not dns_names
    present = set(extension.value.get_values_for_type(x509.DNSName))
    return set(dns_names) <= present


def is_issued_by(cert: bytes, ca_cert: bytes) -> bool:
    """Whether the CA's key signed the certificate (names and signature both match)."""
    certificate = load_certificate(cert)
    authority = load_certificate(ca_cert)
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _new_key(algorithm: KeyAlgorithm) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm is KeyAlgorithm.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _load_signing_key(pem: bytes) -> CertificateIssuerPrivateKeyTypes:
    key = load_private_key(pem)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError(f"a CA key must be ECDSA or RSA, not {type(key).__name__}")
    return key


def _key_usage(*, certificate_authority: bool, rsa_key: bool) -> x509.KeyUsage:
    """CAs sign certificates; an RSA serving key also enciphers the key exchange of older TLS suites."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key and not certificate_authority,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def _dns_name(text: str) -> x509.DNSName:
    check_dns_name(text)
    return x509.DNSName(text)


def check_dns_name(text: str) -> None:
    """CertificateError unless TLS clients can match `text`: RFC 1123 labels, optionally under a `*.`
    wildcard, at most 253 characters."""
    if not text.isascii():
        raise CertificateError(
            f"DNS name {text!r} must be ASCII; write an internationalised name in its xn-- form"
        )
    labels = text.removeprefix("*.").split(".")
    if len(text) > MAX_DNS_NAME or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise CertificateError(
            f"not a DNS name: {text!r} (dot-separated labels of letters, digits and inner dashes, "
            "each at most 63 long)"
        )


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise CertificateError(f"not an IP address: {text!r}") from None


def _certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
