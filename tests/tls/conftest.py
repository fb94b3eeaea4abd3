"""Fixtures of the TLS tests: certificates for 127.0.0.1 and localhost made by the code under test, and
the in-test API server for the self-managed mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from tests.fake_apiserver import fake_apiserver_fixture, fake_kubeconfig_fixture  # noqa: F401 - fixtures
from webhook.cluster.kube_client import api_client
from webhook.tls.certs import CertificateBundle, generate_bundle, issue_serving_certificate

LOCAL_DNS_NAMES = ("localhost",)
LOCAL_IP_ADDRESSES = ("127.0.0.1",)


def renew(bundle: CertificateBundle) -> CertificateBundle:
    """The same CA with a new serving certificate: what a cert-manager renewal delivers."""
    serving = issue_serving_certificate(
        ca=bundle.ca, dns_names=LOCAL_DNS_NAMES, ip_addresses=LOCAL_IP_ADDRESSES
    )
    return replace(bundle, cert=serving.cert, key=serving.key)


@pytest.fixture(scope="session")
def bundle() -> CertificateBundle:
    return generate_bundle(dns_names=LOCAL_DNS_NAMES, ip_addresses=LOCAL_IP_ADDRESSES)


@pytest.fixture(scope="session")
def renewed(bundle: CertificateBundle) -> CertificateBundle:
    return renew(bundle)


@pytest.fixture(scope="session")
def renewed_again(bundle: CertificateBundle) -> CertificateBundle:
    return renew(bundle)


@pytest.fixture
def cluster(fake_kubeconfig: Path) -> Iterator[ApiClient]:
    """An API client of the official library, talking to the in-test API server."""
    with closing(api_client(kubeconfig=str(fake_kubeconfig))) as client:
        yield client
