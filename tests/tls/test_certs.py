"""Certificate generation and inspection, checked with cryptography's own path validation."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from webhook.errors import CertificateError
from webhook.tls.certs import (
    CertificateBundle,
    KeyAlgorithm,
    check_dns_name,
    covers_dns_names,
    generate_bundle,
    generate_ca,
    in_renewal_window,
    is_issued_by,
    issue_serving_certificate,
    key_matches,
    not_after,
)

ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def verify(bundle: CertificateBundle, *, name: x509.verification.Subject, when: datetime = NOW) -> None:
    """Raises VerificationError unless the serving certificate chains to the CA for `name`."""
    store = Store([x509.load_pem_x509_certificate(bundle.ca_cert)])
    verifier = PolicyBuilder().store(store).time(when).build_server_verifier(name)
    verifier.verify(x509.load_pem_x509_certificate(bundle.cert), [])


def extension(pem: bytes, kind: type[ExtensionT]) -> ExtensionT:
    return x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(kind).value


@pytest.fixture(scope="module")
def service_bundle() -> CertificateBundle:
    return generate_bundle(
        dns_names=["webhook", "webhook.ns.svc"], ip_addresses=["127.0.0.1", "::1"], now=NOW
    )


@pytest.mark.parametrize(
    "name",
    [
        x509.DNSName("webhook"),
        x509.DNSName("webhook.ns.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ],
)
def test_serving_certificate_verifies_for_every_requested_name(
    service_bundle: CertificateBundle, name: x509.verification.Subject
) -> None:
    verify(service_bundle, name=name)


@pytest.mark.parametrize(
    "name",
    [x509.DNSName("other"), x509.DNSName("webhook.ns"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))],
)
def test_serving_certificate_does_not_verify_for_other_names(
    service_bundle: CertificateBundle, name: x509.verification.Subject
) -> None:
    with pytest.raises(VerificationError):
        verify(service_bundle, name=name)


def test_serving_certificate_does_not_verify_against_another_ca(service_bundle: CertificateBundle) -> None:
    stranger = generate_bundle(dns_names=["webhook"], now=NOW)
    mixed = CertificateBundle(
        ca_cert=stranger.ca_cert, ca_key=stranger.ca_key, cert=service_bundle.cert, key=service_bundle.key
    )
    with pytest.raises(VerificationError):
        verify(mixed, name=x509.DNSName("webhook"))


def test_ca_may_sign_leaf_certificates_only(service_bundle: CertificateBundle) -> None:
    certificate = x509.load_pem_x509_certificate(service_bundle.ca_cert)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).critical
    constraints = extension(service_bundle.ca_cert, x509.BasicConstraints)
    usage = extension(service_bundle.ca_cert, x509.KeyUsage)
    assert (constraints.ca, constraints.path_length) == (True, 0)
    assert usage.key_cert_sign
    assert usage.crl_sign


def test_serving_certificate_is_a_server_leaf(service_bundle: CertificateBundle) -> None:
    constraints = extension(service_bundle.cert, x509.BasicConstraints)
    usage = extension(service_bundle.cert, x509.KeyUsage)
    purposes = extension(service_bundle.cert, x509.ExtendedKeyUsage)
    assert not constraints.ca
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert list(purposes) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_default_keys_are_ecdsa_p256(service_bundle: CertificateBundle) -> None:
    for pem in (service_bundle.ca_cert, service_bundle.cert):
        key = x509.load_pem_x509_certificate(pem).public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"


def test_rsa_serving_certificate_allows_key_encipherment() -> None:
    rsa_bundle = generate_bundle(dns_names=["webhook"], algorithm=KeyAlgorithm.RSA_2048, now=NOW)
    assert isinstance(x509.load_pem_x509_certificate(rsa_bundle.cert).public_key(), rsa.RSAPublicKey)
    assert extension(rsa_bundle.cert, x509.KeyUsage).key_encipherment
    verify(rsa_bundle, name=x509.DNSName("webhook"))


@pytest.mark.parametrize(
    ("ca_days", "cert_days", "expected_days"), [(1825, 365, 365), (30, 90, 30), (10, 1, 1)]
)
def test_serving_certificate_lives_as_asked_but_never_beyond_its_ca(
    ca_days: int, cert_days: int, expected_days: int
) -> None:
    made = generate_bundle(
        dns_names=["webhook"],
        ca_validity=timedelta(days=ca_days),
        cert_validity=timedelta(days=cert_days),
        now=NOW,
    )
    assert not_after(made.ca_cert) == NOW + timedelta(days=ca_days)
    assert not_after(made.cert) == NOW + timedelta(days=expected_days)


def test_certificates_are_valid_for_a_client_whose_clock_is_slightly_behind(
    service_bundle: CertificateBundle,
) -> None:
    verify(service_bundle, name=x509.DNSName("webhook"), when=NOW - timedelta(minutes=2))


def test_successive_cas_have_distinct_names() -> None:
    first = generate_ca(now=NOW)
    second = generate_ca(now=NOW + timedelta(days=1))
    subjects = {x509.load_pem_x509_certificate(ca.cert).subject for ca in (first, second)}
    assert len(subjects) == 2


@pytest.mark.parametrize(
    ("names", "addresses", "problem"),
    [
        ([], [], "at least one DNS name or IP address"),
        (["webhook"], ["not-an-ip"], "not an IP address"),
        (["bücher.example"], [], "must be ASCII; write an internationalised name in its xn-- form"),
    ],
)
def test_unusable_names_are_refused(names: list[str], addresses: list[str], problem: str) -> None:
    with pytest.raises(CertificateError, match=problem):
        generate_bundle(dns_names=names, ip_addresses=addresses)


@pytest.mark.parametrize(
    ("elapsed", "due"),
    [
        (timedelta(0), False),
        (timedelta(days=240), False),
        (timedelta(days=245), True),
        (timedelta(days=400), True),
    ],
)
def test_renewal_window_is_the_last_third_of_the_lifetime(elapsed: timedelta, due: bool) -> None:
    made = generate_bundle(dns_names=["webhook"], cert_validity=timedelta(days=365), now=NOW)
    assert in_renewal_window(made.cert, now=NOW + elapsed) is due


def test_inspection_helpers_tell_related_from_unrelated(service_bundle: CertificateBundle) -> None:
    stranger = generate_bundle(dns_names=["webhook"], now=NOW)
    assert is_issued_by(service_bundle.cert, service_bundle.ca_cert)
    assert not is_issued_by(service_bundle.cert, stranger.ca_cert)
    assert key_matches(cert=service_bundle.cert, key=service_bundle.key)
    assert not key_matches(cert=service_bundle.cert, key=stranger.key)
    assert covers_dns_names(service_bundle.cert, ["webhook.ns.svc", "webhook"])
    assert not covers_dns_names(service_bundle.cert, ["webhook", "webhook.other.svc"])


def test_reissued_certificate_comes_from_the_same_ca(service_bundle: CertificateBundle) -> None:
    serving = issue_serving_certificate(ca=service_bundle.ca, dns_names=["webhook"], now=NOW)
    assert is_issued_by(serving.cert, service_bundle.ca_cert)
    assert serving.cert != service_bundle.cert


@pytest.mark.parametrize("garbage", [b"", b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"])
def test_unparseable_pem_is_a_certificate_error(garbage: bytes) -> None:
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        not_after(garbage)


LONG_NAME = "pod-identity-webhook.identity-webhook-system.svc.cluster.internal.example.com"
"""77 characters: a valid DNS name (up to 253), too long for an X.509 common name (up to 64)."""


@pytest.mark.parametrize(
    ("names", "common_name"),
    [([LONG_NAME], None), ([LONG_NAME, "webhook"], "webhook")],
    ids=["no-short-name", "first-short-name"],
)
def test_a_name_longer_than_a_common_name_may_be_is_still_certified(
    names: list[str], common_name: str | None
) -> None:
    bundle = generate_bundle(dns_names=names, now=NOW)

    verify(bundle, name=x509.DNSName(LONG_NAME))
    certificate = x509.load_pem_x509_certificate(bundle.cert)
    assert [attribute.value for attribute in certificate.subject] == ([common_name] if common_name else [])
    alternative_names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert alternative_names.critical is (common_name is None)


def test_a_dns_name_of_253_characters_is_certified_and_one_of_255_refused() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    too_long = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 63])

    check_dns_name(longest)
    with pytest.raises(CertificateError, match="not a DNS name"):
        check_dns_name(too_long)
    assert (len(longest), len(too_long)) == (253, 255)
