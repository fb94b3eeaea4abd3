"""deploy/kind/cluster.yaml: both kubeadm forms set the same issuer flags, on keys the node really mounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ISSUER = "https://my-irsa-bucket.s3.eu-west-1.amazonaws.com/kind-dev"
KEYS_DIR = "/home/dev/.pod-identity-webhook/kind/dev"


@pytest.fixture
def cluster(repo_root: Path) -> dict[str, Any]:
    template = (repo_root / "deploy" / "kind" / "cluster.yaml").read_text()
    config: dict[str, Any] = yaml.safe_load(
        template.replace("@ISSUER_URL@", ISSUER).replace("@KEYS_DIR@", KEYS_DIR)
    )
    return config


def _flags(extra_args: dict[str, str] | list[dict[str, str]]) -> dict[str, str]:
    """kubeadm v1beta3 writes extraArgs as a map, v1beta4 as a list of name/value pairs."""
    if isinstance(extra_args, dict):
        return extra_args
    return {item["name"]: item["value"] for item in extra_args}


def test_both_kubeadm_versions_get_the_same_issuer_settings_from_mounted_keys(
    cluster: dict[str, Any],
) -> None:
    (node,) = cluster["nodes"]
    (mount,) = node["extraMounts"]
    assert mount["hostPath"] == KEYS_DIR
    patches = [yaml.safe_load(patch) for patch in node["kubeadmConfigPatches"]]
    assert sorted(patch["apiVersion"] for patch in patches) == [
        "kubeadm.k8s.io/v1beta3",
        "kubeadm.k8s.io/v1beta4",
    ]
    for patch in patches:
        api_server = _flags(patch["apiServer"]["extraArgs"])
        assert api_server["service-account-issuer"] == ISSUER
        assert api_server["service-account-jwks-uri"] == f"{ISSUER}/keys.json"
        key_files = {
            api_server["service-account-key-file"],
            api_server["service-account-signing-key-file"],
            _flags(patch["controllerManager"]["extraArgs"])["service-account-private-key-file"],
        }
        for component in ("apiServer", "controllerManager"):
            (volume,) = patch[component]["extraVolumes"]
            assert volume["hostPath"] == mount["containerPath"]
            assert all(path.startswith(volume["mountPath"] + "/") for path in key_files)
