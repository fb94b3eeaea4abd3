"""Fixtures of the OIDC tooling tests: generated signing keys, a CA hierarchy, local TLS servers and the
in-test API server."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.fake_apiserver import fake_apiserver_fixture, fake_kubeconfig_fixture  # noqa: F401 - fixtures
from tests.tools.oidc.oidc_artefacts import Pki, TlsServer, certificate


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def second_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    curves: dict[str, ec.EllipticCurve] = {
        "ES256": ec.SECP256R1(),
        "ES384": ec.SECP384R1(),
        "ES512": ec.SECP521R1(),
    }
    return {algorithm: ec.generate_private_key(curve) for algorithm, curve in curves.items()}


@pytest.fixture(scope="session")
def pki() -> Pki:
    root_key, intermediate_key, lower_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(4)
    )
    root = certificate(subject="Test Root CA", key=root_key, ca=True)
    intermediate = certificate(
        subject="Test Intermediate CA", key=intermediate_key, issuer=(root, root_key), ca=True
    )
    lower = certificate(
        subject="Test Issuing CA", key=lower_key, issuer=(intermediate, intermediate_key), ca=True
    )
    return Pki(
        root=root,
        intermediate=intermediate,
        lower_intermediate=lower,
        leaf=certificate(subject="localhost", key=leaf_key, issuer=(lower, lower_key), ca=False),
        root_signed_leaf=certificate(subject="localhost", key=leaf_key, issuer=(root, root_key), ca=False),
        self_signed_leaf=certificate(subject="localhost", key=leaf_key, ca=False),
        leaf_key=leaf_key,
    )


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[..., TlsServer]]:
    """Start TLS servers presenting the given chain (leaf first, in the order the test wants it sent)."""
    servers: list[TlsServer] = []

    def start(chain: Sequence[x509.Certificate], key: ec.EllipticCurvePrivateKey) -> TlsServer:
        workdir = tmp_path / f"server-{len(servers)}"
        workdir.mkdir()
        server = TlsServer(chain=chain, key=key, workdir=workdir)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
