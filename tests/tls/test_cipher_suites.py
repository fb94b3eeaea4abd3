"""`--tls-cipher-suites` and `--tls-min-version` with the reference's spellings, proven by real handshakes:
a client limited to TLS 1.2 and one suite connects exactly when the server offers that suite for its key."""

from __future__ import annotations

import argparse
import logging
import socket
import ssl

import pytest

from tests.tls.conftest import LOCAL_DNS_NAMES, LOCAL_IP_ADDRESSES
from tests.tls.tls_support import uvicorn_server
from webhook.errors import CertificateError, ConfigurationError
from webhook.tls.certs import CertificateBundle, KeyAlgorithm, generate_bundle
from webhook.tls.cipher_suites import TLS12_SUITES, TLS13_SUITES, parse_cipher_suites, parse_min_version
from webhook.tls.serving import ServingTLS
from webhook.tls.startup import serving_tls_from

BUNDLES = {
    KeyAlgorithm.ECDSA_P256: generate_bundle(dns_names=LOCAL_DNS_NAMES, ip_addresses=LOCAL_IP_ADDRESSES),
    KeyAlgorithm.RSA_2048: generate_bundle(
        dns_names=LOCAL_DNS_NAMES, ip_addresses=LOCAL_IP_ADDRESSES, algorithm=KeyAlgorithm.RSA_2048
    ),
}


def negotiated(port: int, bundle: CertificateBundle, *, cipher: str | None, tls13: bool = False) -> str:
    """The suite a client negotiates: TLS 1.2 only and the one OpenSSL `cipher`, or TLS 1.3 with its own."""
    context = ssl.create_default_context(cadata=bundle.ca_cert.decode())
    if tls13:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    else:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        if cipher is not None:
            context.set_ciphers(cipher)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        suite = tls.cipher()
        assert suite is not None
        return suite[0]


def offered_suites() -> list[str]:
    """Every Go suite name this OpenSSL can offer (RC4 and 3DES are gone from OpenSSL 3's default build)."""
    usable = []
    for name in TLS12_SUITES:
        try:
            parse_cipher_suites(name)
        except ConfigurationError:
            continue
        usable.append(name)
    return usable


@pytest.mark.parametrize("name", offered_suites())
def test_each_suite_alone_is_negotiated_by_a_tls12_client_with_a_certificate_of_its_key_type(
    name: str,
) -> None:
    cipher, key_type = TLS12_SUITES[name]
    bundle = BUNDLES[KeyAlgorithm.RSA_2048 if key_type.value == "RSA" else KeyAlgorithm.ECDSA_P256]
    serving = ServingTLS(cipher_suites=parse_cipher_suites(name))
    serving.load_pem(cert=bundle.cert, key=bundle.key)

    with uvicorn_server(serving.context) as port:
        assert negotiated(port, bundle, cipher=cipher) == cipher


def test_a_suite_not_in_the_list_is_refused_to_a_client_that_offers_only_it() -> None:
    bundle = BUNDLES[KeyAlgorithm.ECDSA_P256]
    serving = ServingTLS(cipher_suites=parse_cipher_suites("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"))
    serving.load_pem(cert=bundle.cert, key=bundle.key)

    with uvicorn_server(serving.context) as port:
        assert negotiated(port, bundle, cipher=None) == "ECDHE-ECDSA-AES256-GCM-SHA384"
        with pytest.raises(ssl.SSLError):
            negotiated(port, bundle, cipher="ECDHE-ECDSA-AES128-GCM-SHA256")


@pytest.mark.parametrize(
    ("suites", "algorithm"),
    [
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", KeyAlgorithm.RSA_2048),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_CBC_SHA", KeyAlgorithm.ECDSA_P256),
    ],
)
def test_a_certificate_no_chosen_suite_can_serve_is_refused_with_the_reason(
    suites: str, algorithm: KeyAlgorithm
) -> None:
    """The trap of an earlier attempt: an ECDSA suite with an RSA certificate is accepted by OpenSSL and
    fails every TLS 1.2 handshake. It is the key type, not OpenSSL's security level: the same suite
    negotiates with a certificate of its key type (above)."""
    bundle = BUNDLES[algorithm]
    serving = ServingTLS(cipher_suites=parse_cipher_suites(suites))

    with pytest.raises(CertificateError, match=r"no TLS 1\.2 client could connect"):
        serving.load_pem(cert=bundle.cert, key=bundle.key)


def test_suites_for_both_key_types_serve_either_certificate() -> None:
    suites = parse_cipher_suites(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    )
    for algorithm, cipher in (
        (KeyAlgorithm.RSA_2048, "ECDHE-RSA-AES128-GCM-SHA256"),
        (KeyAlgorithm.ECDSA_P256, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ):
        serving = ServingTLS(cipher_suites=suites)
        serving.load_pem(cert=BUNDLES[algorithm].cert, key=BUNDLES[algorithm].key)
        with uvicorn_server(serving.context) as port:
            assert negotiated(port, BUNDLES[algorithm], cipher=None) == cipher


def test_tls13_names_change_nothing_and_tls13_keeps_its_suites() -> None:
    bundle = BUNDLES[KeyAlgorithm.ECDSA_P256]
    serving = ServingTLS(
        cipher_suites=parse_cipher_suites("TLS_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    )
    serving.load_pem(cert=bundle.cert, key=bundle.key)

    with uvicorn_server(serving.context) as port:
        assert negotiated(port, bundle, cipher=None) == "ECDHE-ECDSA-AES128-GCM-SHA256"
        assert negotiated(port, bundle, cipher=None, tls13=True) in TLS13_SUITES


def test_only_tls13_names_leave_tls12_without_a_suite_so_only_tls13_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bundle = BUNDLES[KeyAlgorithm.ECDSA_P256]
    serving = serving_tls_from(tls_flags(cipher_suites="TLS_AES_128_GCM_SHA256"))
    serving.load_pem(cert=bundle.cert, key=bundle.key)

    with uvicorn_server(serving.context) as port:
        assert negotiated(port, bundle, cipher=None, tls13=True) in TLS13_SUITES
        with pytest.raises(ssl.SSLError):
            negotiated(port, bundle, cipher=None)
    assert "serving TLS 1.3 only" in caplog.text


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", None),
        (" , ", None),
        (
            " TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ,,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
        ),
    ],
)
def test_the_list_is_trimmed_and_empty_items_skipped(text: str, names: tuple[str, ...] | None) -> None:
    suites = parse_cipher_suites(text)

    assert (suites.names if suites else None) == names


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_MADE_UP", "unknown cipher suite 'TLS_MADE_UP'"),
        ("ECDHE-RSA-AES128-GCM-SHA256", "unknown cipher suite 'ECDHE-RSA-AES128-GCM-SHA256'"),
        ("tls_ecdhe_rsa_with_aes_128_gcm_sha256", "unknown cipher suite"),
        ("TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_RC4_128_SHA (RC4-SHA) is not offered"),
    ],
)
def test_a_name_that_cannot_be_served_stops_the_start_naming_it(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^--tls-cipher-suites: ") as raised:
        parse_cipher_suites(text)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("given", "served", "warned"),
    [
        ("1.2", ssl.TLSVersion.TLSv1_2, False),
        ("VersionTLS12", ssl.TLSVersion.TLSv1_2, False),
        ("1.3", ssl.TLSVersion.TLSv1_3, False),
        ("VersionTLS13", ssl.TLSVersion.TLSv1_3, False),
        ("1.0", ssl.TLSVersion.TLSv1_2, True),
        ("VersionTLS11", ssl.TLSVersion.TLSv1_2, True),
    ],
)
def test_min_version_takes_the_references_spellings(
    given: str, served: ssl.TLSVersion, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="webhook.tls"):
        serving = serving_tls_from(tls_flags(min_version=given))

    assert serving.context.minimum_version == served
    assert ("is not offered here" in caplog.text) == warned


@pytest.mark.parametrize("given", ["1.4", "TLS1.2", "", "tls12"])
def test_another_min_version_is_refused(given: str) -> None:
    with pytest.raises(ConfigurationError, match=r"--tls-min-version must be one of 1\.0, VersionTLS10"):
        parse_min_version(given)


def tls_flags(*, min_version: str = "1.2", cipher_suites: str = "") -> argparse.Namespace:
    return argparse.Namespace(tls_min_version=min_version, tls_cipher_suites=cipher_suites)
