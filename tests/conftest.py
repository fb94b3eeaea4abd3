"""Fixtures shared by every test area; each area keeps its own in its folder's conftest.py."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def webhook_executable() -> list[str]:
    """How a test starts the real console script, from the same interpreter as the tests."""
    return [sys.executable, "-m", "webhook"]


@pytest.fixture(autouse=True)
def no_real_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The EC2 instance metadata address of every test, and of every process it starts, is a loopback port
    nobody listens on, unless the test points it at its own fake: no test can reach 169.254.169.254."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = probe.getsockname()[1]
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{unused}")
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", raising=False)
    yield
