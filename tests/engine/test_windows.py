"""SPEC §3: pods that can only run on Windows nodes get the token file as a Windows path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.support import IRSA_MOUNT_PATH, IRSA_TOKEN_FILE, inject, irsa, pod
from webhook.engine.settings import MutationSettings

WINDOWS_TOKEN_FILE = "C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount\\token"


def required_affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    """A required nodeAffinity whose terms (alternatives) each hold the given match expressions."""
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": expressions} for expressions in terms]
                }
            }
        }
    }


def os_in(*values: str, key: str = "kubernetes.io/os") -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


ZONE = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-1a"]}


@pytest.mark.parametrize(
    "spec_fields",
    [
        pytest.param({"nodeSelector": {"kubernetes.io/os": "windows"}}, id="node-selector"),
        pytest.param({"nodeSelector": {"beta.kubernetes.io/os": "windows"}}, id="beta-node-selector"),
        pytest.param({"os": {"name": "windows"}}, id="spec-os-name"),
        pytest.param(required_affinity([os_in("windows")]), id="required-affinity"),
        pytest.param(
            required_affinity([os_in("windows", key="beta.kubernetes.io/os")]),
            id="required-affinity-beta-key",
        ),
        pytest.param(required_affinity([os_in("windows"), ZONE]), id="required-affinity-with-zone"),
        pytest.param(
            required_affinity([os_in("windows")], [os_in("windows"), ZONE]), id="every-term-windows"
        ),
    ],
)
def test_windows_only_pods_get_a_windows_token_path(spec_fields: dict[str, Any]) -> None:
    result = inject(pod(**spec_fields), irsa())

    assert result.env()["AWS_WEB_IDENTITY_TOKEN_FILE"] == WINDOWS_TOKEN_FILE
    assert result.mounts()[0]["mountPath"] == IRSA_MOUNT_PATH


@pytest.mark.parametrize(
    "spec_fields",
    [
        pytest.param({}, id="no-selector"),
        pytest.param({"nodeSelector": {"kubernetes.io/os": "linux"}}, id="linux-node-selector"),
        pytest.param({"os": {"name": "linux"}}, id="spec-os-linux"),
        pytest.param({"nodeSelector": {"windows": "true"}}, id="unrelated-selector"),
        pytest.param(required_affinity([os_in("windows")], [os_in("linux")]), id="mixed-terms"),
        pytest.param(required_affinity([os_in("windows")], [ZONE]), id="one-term-without-os"),
        pytest.param(required_affinity([os_in("windows", "linux")]), id="windows-or-linux"),
        pytest.param(required_affinity([os_in("windows", key="team")]), id="windows-value-of-another-label"),
        pytest.param(required_affinity([{**os_in("windows"), "operator": "NotIn"}]), id="not-in-windows"),
        pytest.param(
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchFields": [
                                        {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            id="a-term-of-match-fields-only",
        ),
        pytest.param(
            {
                "affinity": {
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 1, "preference": {"matchExpressions": [os_in("windows")]}}
                        ]
                    }
                }
            },
            id="only-preferred",
        ),
    ],
)
def test_pods_that_may_run_on_linux_keep_the_linux_token_path(spec_fields: dict[str, Any]) -> None:
    result = inject(pod(**spec_fields), irsa())

    assert result.env()["AWS_WEB_IDENTITY_TOKEN_FILE"] == IRSA_TOKEN_FILE


def test_windows_token_path_follows_a_custom_mount_path() -> None:
    settings = MutationSettings(token_mount_path="/var/run/secrets/irsa")

    result = inject(pod(os={"name": "windows"}), irsa(), settings)

    assert result.env()["AWS_WEB_IDENTITY_TOKEN_FILE"] == "C:\\var\\run\\secrets\\irsa\\token"
