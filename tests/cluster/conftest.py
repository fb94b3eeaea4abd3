"""Fixtures of the ServiceAccount cache and watched-configuration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from tests.fake_apiserver import fake_apiserver_fixture, fake_kubeconfig_fixture  # noqa: F401 - fixtures
from webhook.cluster.kube_client import api_client


@pytest.fixture
def cluster(fake_kubeconfig: Path) -> Iterator[ApiClient]:
    """An API client of the official library, talking to the fake API server."""
    with closing(api_client(kubeconfig=str(fake_kubeconfig))) as client:
        yield client
