"""Fixtures shared by every test area; each area keeps its own in its folder's conftest.py."""

from __future__ import annotations

import sys
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
