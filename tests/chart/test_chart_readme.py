"""The chart's README lists every value as values.yaml documents it; it must match values.yaml as it is now."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.tools import ensure

README = Path("charts/pod-identity-webhook/README.md")


@pytest.fixture(scope="session")
def readme_generator(repo_root: Path) -> str:
    return ensure(repo_root, "ensure-readme-generator")


def test_the_chart_readme_matches_values_yaml(repo_root: Path, readme_generator: str, tmp_path: Path) -> None:
    regenerated = tmp_path / "README.md"
    subprocess.run(
        [str(repo_root / "scripts" / "render-chart-readme"), str(regenerated)], check=True, timeout=120
    )
    assert (repo_root / README).read_text() == regenerated.read_text(), (
        "the chart's README is stale, run `make chart-readme`"
    )


def leaves(values: object, path: str = "") -> set[str]:
    """Dotted paths of the values a user sets one by one: scalars, lists and empty maps."""
    if isinstance(values, dict) and values:
        return {leaf for key, value in values.items() for leaf in leaves(value, f"{path}{key}.")}
    return {path.rstrip(".")}


def test_the_chart_readme_documents_every_value(repo_root: Path) -> None:
    values = yaml.safe_load((repo_root / "charts/pod-identity-webhook/values.yaml").read_text())
    readme = (repo_root / README).read_text()
    assert {leaf for leaf in leaves(values) if f"| `{leaf}`" not in readme} == set()
