"""deploy/ holds the chart rendered for people who do not use Helm; it must match the chart as it is now."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.helm

RENDERED = ("pod-identity-webhook.yaml", "cert-manager/pod-identity-webhook.yaml")


def test_plain_manifests_match_the_chart(repo_root: Path, helm: str, tmp_path: Path) -> None:
    subprocess.run([str(repo_root / "scripts" / "render-manifests"), str(tmp_path)], check=True, timeout=120)
    stale = [
        name
        for name in RENDERED
        if (repo_root / "deploy" / name).read_text() != (tmp_path / name).read_text()
    ]
    assert stale == [], f"deploy/ is stale, run `make manifests`: {stale}"


@pytest.mark.parametrize("name", RENDERED)
def test_plain_manifests_create_their_namespace_first_under_restricted_pod_security(
    repo_root: Path, name: str
) -> None:
    documents = [d for d in yaml.safe_load_all((repo_root / "deploy" / name).read_text()) if d]
    namespace = documents[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace", namespace["metadata"]["name"]) for d in documents[1:]} == {
        namespace["metadata"]["name"]
    }
