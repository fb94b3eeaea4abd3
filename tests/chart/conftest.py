from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.rendering import Chart
from tests.chart.tools import ensure


@pytest.fixture(scope="session")
def helm(repo_root: Path) -> str:
    return ensure(repo_root, "ensure-helm")


@pytest.fixture(scope="session")
def chart(repo_root: Path, helm: str) -> Chart:
    return Chart(helm=helm, path=repo_root / "charts" / "pod-identity-webhook")


@pytest.fixture(scope="session")
def promtool(repo_root: Path) -> str:
    return ensure(repo_root, "ensure-promtool")
