"""Installing the package gives kubectl a plugin: `kubectl pod-identity COMMAND` runs the offline tools,
as kubectl finds them on PATH, with the same output as `pod-identity-webhook COMMAND`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chart.tools import ensure
from webhook import __version__

SCRIPTS = Path(sys.executable).parent
"""Where pip installed the package's console scripts, the plugin among them."""
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: uploader, namespace: shop}
spec:
  serviceAccountName: checkout
  containers: [{name: app, image: registry.example.com/uploader:1.0}]
"""
ACCOUNTS = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: checkout
  namespace: shop
  annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::111122223333:role/checkout"}
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kubectl(repo_root: Path) -> str:
    return ensure(repo_root, "ensure-kubectl")


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run a command with the package's scripts first on PATH, as an activated environment has them."""
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "serviceaccounts.yaml").write_text(ACCOUNTS)
    environment = os.environ | {"PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}"}
    environment.pop("KUBECONFIG", None)

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False, timeout=60
        )

    return run


def test_kubectl_lists_the_plugin_it_finds_on_path(kubectl: str, run: Run) -> None:
    listed = run(kubectl, "plugin", "list")

    assert listed.returncode == 0, listed.stderr
    assert str(SCRIPTS / "kubectl-pod_identity") in listed.stdout.splitlines()


@pytest.mark.parametrize(
    "command",
    [
        ["explain", "-f", "pod.yaml", "--service-account-file", "serviceaccounts.yaml"],
        ["explain", "-f", "pod.yaml", "--service-account-file", "serviceaccounts.yaml", "-o", "json"],
        ["inject", "-f", "pod.yaml", "--service-account-file", "serviceaccounts.yaml"],
        ["trust-policy", "--issuer", "https://oidc.example.com/cluster", "--account-id", "111122223333",
         "--service-account", "shop/checkout"],
    ],
    ids=["explain", "explain as json", "inject", "trust-policy"],
)  # fmt: skip
def test_kubectl_pod_identity_answers_as_the_command_does(kubectl: str, run: Run, command: list[str]) -> None:
    through_kubectl = run(kubectl, "pod-identity", *command)
    direct = run(str(SCRIPTS / "pod-identity-webhook"), *command)

    assert through_kubectl.returncode == direct.returncode == 0, through_kubectl.stderr
    assert through_kubectl.stdout == direct.stdout


def test_the_plugin_names_itself_as_kubectl_users_call_it(kubectl: str, run: Run) -> None:
    assert run(kubectl, "pod-identity", "--version").stdout == f"kubectl pod-identity {__version__}\n"


def test_explain_through_kubectl_says_what_the_pod_gets(kubectl: str, run: Run) -> None:
    explained = run(
        kubectl, "pod-identity", "explain", "-f", "pod.yaml", "--service-account-file", "serviceaccounts.yaml"
    )

    assert explained.returncode == 0, explained.stderr
    assert "arn:aws:iam::111122223333:role/checkout" in explained.stdout


@pytest.mark.parametrize(
    ("command", "status", "says"),
    [
        (["serve"], 2, "invalid choice: 'serve'"),
        (["explain", "-f", "missing.yaml"], 1, "kubectl pod-identity: error: cannot read missing.yaml"),
    ],
    ids=["the server is not a plugin command", "an error names the plugin"],
)
def test_the_plugin_refuses_in_its_own_name(
    kubectl: str, run: Run, command: list[str], status: int, says: str
) -> None:
    refused = run(kubectl, "pod-identity", *command)

    assert refused.returncode == status
    assert says in refused.stderr
