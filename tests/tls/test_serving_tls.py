"""ServingTLS behind a real uvicorn server, checked by a client that verifies the CA like the API server."""

from __future__ import annotations

import socket
import ssl
from contextlib import closing
from dataclasses import replace

import pytest
from cryptography import x509

from tests.tls.tls_support import (
    certificate_of,
    client_context,
    get_ok,
    handshake,
    https_connection,
    served_certificate,
    uvicorn_server,
)
from webhook import metrics
from webhook.errors import CertificateError, ConfigurationError
from webhook.tls.certs import CertificateBundle, KeyAlgorithm, generate_bundle, not_after
from webhook.tls.serving import ServingTLS


def test_loaded_certificate_is_served_and_verifies_against_the_ca(bundle: CertificateBundle) -> None:
    serving = ServingTLS()
    serving.load_pem(cert=bundle.cert, key=bundle.key)
    with (
        uvicorn_server(serving.context) as port,
        closing(https_connection(port, bundle.ca_cert)) as connection,
    ):
        get_ok(connection)
        assert served_certificate(connection) == certificate_of(bundle)
        assert handshake(port, bundle.ca_cert, server_hostname="localhost") == certificate_of(bundle)


def test_http_1_1_is_chosen_when_the_client_also_offers_http_2(bundle: CertificateBundle) -> None:
    serving = ServingTLS()
    serving.load_pem(cert=bundle.cert, key=bundle.key)
    context = client_context(bundle.ca_cert)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        uvicorn_server(serving.context) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_no_client_that_checks_the_ca_trusts_the_server_before_a_certificate_is_loaded(
    bundle: CertificateBundle,
) -> None:
    serving = ServingTLS()
    assert not serving.loaded
    with uvicorn_server(serving.context) as port, pytest.raises(ssl.SSLCertVerificationError):
        handshake(port, bundle.ca_cert)


def test_liveness_probe_is_answered_before_a_certificate_is_loaded(bundle: CertificateBundle) -> None:
    """The kubelet's HTTPS probe checks no certificate: a webhook waiting for one must still look alive."""
    serving = ServingTLS()
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    with (
        uvicorn_server(serving.context) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        unverified.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        reply = b"".join(iter(lambda: tls.recv(4096), b""))

    assert reply.startswith(b"HTTP/1.1 200")
    assert der is not None and x509.load_der_x509_certificate(der) != certificate_of(bundle)
    assert not serving.loaded


def test_new_certificate_reaches_new_connections_while_open_ones_keep_working(
    bundle: CertificateBundle, renewed: CertificateBundle
) -> None:
    serving = ServingTLS()
    serving.load_pem(cert=bundle.cert, key=bundle.key)
    with (
        uvicorn_server(serving.context) as port,
        closing(https_connection(port, bundle.ca_cert)) as kept_alive,
        closing(https_connection(port, bundle.ca_cert)) as fresh,
    ):
        get_ok(kept_alive)
        socket_before = kept_alive.sock

        serving.load_pem(cert=renewed.cert, key=renewed.key)

        get_ok(fresh)
        assert served_certificate(fresh) == certificate_of(renewed)
        get_ok(kept_alive)
        assert kept_alive.sock is socket_before
        assert served_certificate(kept_alive) == certificate_of(bundle)


def test_a_key_of_another_type_replaces_the_certificate_for_every_client() -> None:
    """OpenSSL keeps one certificate per key type in a context; reloading in place would go on serving
    the old ECDSA certificate to clients that prefer ECDSA."""
    ecdsa = generate_bundle(dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    rsa_bundle = generate_bundle(
        dns_names=["localhost"], ip_addresses=["127.0.0.1"], algorithm=KeyAlgorithm.RSA_2048
    )
    serving = ServingTLS()
    serving.load_pem(cert=ecdsa.cert, key=ecdsa.key)
    with uvicorn_server(serving.context) as port:
        serving.load_pem(cert=rsa_bundle.cert, key=rsa_bundle.key)
        assert handshake(port, rsa_bundle.ca_cert) == certificate_of(rsa_bundle)
        assert handshake(port, rsa_bundle.ca_cert, max_version=ssl.TLSVersion.TLSv1_2) == certificate_of(
            rsa_bundle
        )


@pytest.mark.parametrize(
    ("pair", "problem"),
    [
        ("mismatched", "does not belong to the certificate"),
        ("garbage certificate", "not a PEM certificate"),
        ("garbage key", "not an unencrypted PEM private key"),
    ],
)
def test_unusable_pair_is_refused_and_the_current_certificate_stays(
    bundle: CertificateBundle, renewed: CertificateBundle, pair: str, problem: str
) -> None:
    candidates = {
        "mismatched": replace(renewed, key=bundle.key),
        "garbage certificate": replace(renewed, cert=b"garbage"),
        "garbage key": replace(renewed, key=b"garbage"),
    }
    serving = ServingTLS()
    serving.load_pem(cert=bundle.cert, key=bundle.key)
    with uvicorn_server(serving.context) as port:
        with pytest.raises(CertificateError, match=problem):
            serving.load_pem(cert=candidates[pair].cert, key=candidates[pair].key)
        assert handshake(port, bundle.ca_cert) == certificate_of(bundle)
    assert serving.certificate == bundle.cert


@pytest.mark.parametrize(
    ("min_version", "client_max", "accepted"),
    [
        ("1.3", ssl.TLSVersion.TLSv1_2, False),
        ("1.3", None, True),
        ("1.2", ssl.TLSVersion.TLSv1_2, True),
    ],
)
def test_minimum_tls_version_is_enforced(
    bundle: CertificateBundle, min_version: str, client_max: ssl.TLSVersion | None, accepted: bool
) -> None:
    serving = ServingTLS(min_version=min_version)
    serving.load_pem(cert=bundle.cert, key=bundle.key)
    with uvicorn_server(serving.context) as port:
        if accepted:
            assert handshake(port, bundle.ca_cert, max_version=client_max) == certificate_of(bundle)
        else:
            with pytest.raises(ssl.SSLError):
                handshake(port, bundle.ca_cert, max_version=client_max)


def test_unknown_minimum_version_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="--tls-min-version"):
        ServingTLS(min_version="1.1")


def test_loading_publishes_the_expiry_metric(bundle: CertificateBundle, renewed: CertificateBundle) -> None:
    serving = ServingTLS()
    for pair in (bundle, renewed):
        serving.load_pem(cert=pair.cert, key=pair.key)
        assert metrics.REGISTRY.get_sample_value(
            "pod_identity_webhook_certificate_expiry_timestamp_seconds"
        ) == pytest.approx(not_after(pair.cert).timestamp())
    assert serving.loaded


def test_served_chain_is_the_one_loaded(bundle: CertificateBundle) -> None:
    """A cert file holding leaf + CA (as cert-manager writes it) is accepted and served."""
    serving = ServingTLS()
    serving.load_pem(cert=bundle.cert + bundle.ca_cert, key=bundle.key)
    with uvicorn_server(serving.context) as port:
        assert handshake(port, bundle.ca_cert) == x509.load_pem_x509_certificate(bundle.cert)
