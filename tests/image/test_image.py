"""The container image as an operator runs it: non-root, read-only root filesystem, no network but its own
loopback, a mounted certificate and ServiceAccount file, and a real AdmissionReview over verified TLS."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.e2e.pod_assertions import irsa_problems
from tests.pinned_versions import pins
from tests.reference_manifest import REFERENCE_CERTIFICATES, REFERENCE_FLAGS, REFERENCE_PROGRAM
from tests.validation import assert_valid_pod

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]  # the first test also builds the image

NAMESPACE, SERVICE_ACCOUNT = "default", "s3-reader"
"""A ServiceAccount with a role among the project's samples (examples/serviceaccounts.yaml)."""
MOUNT = "/etc/pod-identity-webhook"
READY_WITHIN_SECONDS = 60
CLIENT = Path(__file__).with_name("admission_client.py")


def docker(*args: str, check: bool = True, stdin: str | None = None, timeout: float = 120) -> str:
    completed = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and completed.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{completed.stderr}")
    return completed.stdout


@dataclass(frozen=True)
class RunningWebhook:
    name: str
    ca: str
    port: int

    def converse(self, review: dict[str, Any]) -> Any:
        """Run admission_client.py with the image's own interpreter inside the container: wait until ready,
        send `review`, read the health and metrics endpoints."""
        client_args = [self.ca, str(self.port), "9999", str(READY_WITHIN_SECONDS)]
        output = docker(
            "exec", "-i", self.name, "python3", "-c", CLIENT.read_text(), *client_args,
            stdin=json.dumps(review), timeout=180,
        )  # fmt: skip
        return json.loads(output)

    def logs(self) -> str:
        completed = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False)
        return completed.stdout + completed.stderr


@pytest.fixture(scope="module")
def role_arn(repo_root: Path) -> str:
    samples = yaml.safe_load_all((repo_root / "examples" / "serviceaccounts.yaml").read_text())
    (account,) = [
        s
        for s in samples
        if (s["metadata"]["namespace"], s["metadata"]["name"]) == (NAMESPACE, SERVICE_ACCOUNT)
    ]
    arn: str = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    return arn


@pytest.fixture
def mounted_files(tmp_path: Path, webhook_executable: list[str], repo_root: Path) -> Path:
    """Certificate, key and ServiceAccounts, readable by the image's user (65532), as a Secret volume would be."""
    generate = ["certs", "generate", "--dns", "localhost", "--ip", "127.0.0.1", "--out-dir", str(tmp_path)]
    subprocess.run(
        [*webhook_executable, *generate],
        check=True,
        capture_output=True,
        timeout=60,
    )
    shutil.copy(repo_root / "examples" / "serviceaccounts.yaml", tmp_path / "serviceaccounts.yaml")
    tmp_path.chmod(0o755)
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    return tmp_path


@contextlib.contextmanager
def running_container(*arguments: str, mount: str, port: int) -> Iterator[RunningWebhook]:
    """`docker run` of `arguments` (options, image, command) with the files mounted read-only at `mount`,
    as the restricted Pod Security Standard runs a pod: non-root (the image's user), read-only root,
    no capabilities, no network but its own loopback."""
    name = f"piw-image-test-{uuid.uuid4().hex[:10]}"
    docker(
        "run", "--detach", "--name", name, "--pull=never",
        "--network=none", "--read-only", "--tmpfs", "/tmp:size=16m",
        "--cap-drop=ALL", "--security-opt=no-new-privileges",
        *arguments,
    )  # fmt: skip
    running = RunningWebhook(name, ca=f"{mount}/ca.crt", port=port)
    try:
        yield running
    finally:
        print(running.logs()[-4000:])
        docker("rm", "--force", name, check=False)


@pytest.fixture
def webhook(image: str, mounted_files: Path) -> Iterator[RunningWebhook]:
    with running_container(
        "--volume", f"{mounted_files}:{MOUNT}:ro",
        image,
        "serve",
        "--tls-cert", f"{MOUNT}/tls.crt", "--tls-key", f"{MOUNT}/tls.key",
        "--service-account-file", f"{MOUNT}/serviceaccounts.yaml",
        "--aws-default-region", "eu-west-1",
        mount=MOUNT,
        port=8443,
    ) as running:  # fmt: skip
        yield running


@pytest.fixture
def webhook_from_a_reference_manifest(image: str, mounted_files: Path) -> Iterator[RunningWebhook]:
    """The reference's Deployment with only the image swapped; with no cluster here, the ServiceAccounts
    come from the file through an environment variable, which leaves its command line as it is."""
    with running_container(
        "--volume", f"{mounted_files}:{REFERENCE_CERTIFICATES}:ro",
        "--env", f"POD_IDENTITY_WEBHOOK_SERVICE_ACCOUNT_FILE={REFERENCE_CERTIFICATES}/serviceaccounts.yaml",
        "--entrypoint", REFERENCE_PROGRAM,
        image,
        *REFERENCE_FLAGS,
        mount=REFERENCE_CERTIFICATES,
        port=443,
    ) as running:  # fmt: skip
        yield running


def admission_review(pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "5b1e6b8e-0d4c-4a59-9d0e-7f1f0d3e2a11",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "dryRun": False,
        },
    }


POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"generateName": "s3-reader-", "namespace": NAMESPACE},
    "spec": {
        "serviceAccountName": SERVICE_ACCOUNT,
        "containers": [{"name": "app", "image": "public.ecr.aws/docker/library/busybox:1.36"}],
    },
}


def test_image_serves_a_verified_admission_review_as_non_root_on_a_read_only_root(
    webhook: RunningWebhook, role_arn: str
) -> None:
    result = webhook.converse(admission_review(POD))
    assert result["ready"][0] == 200, f"never ready: {result['ready']}\n{webhook.logs()}"
    status, body = result["mutate"]
    assert status == 200, body
    response = json.loads(body)["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == (
        "5b1e6b8e-0d4c-4a59-9d0e-7f1f0d3e2a11",
        True,
        "JSONPatch",
    )
    mutated = jsonpatch.apply_patch(POD, json.loads(base64.b64decode(response["patch"])))
    assert irsa_problems(mutated, role_arn=role_arn, region="eu-west-1") == []
    assert_valid_pod(mutated, original=POD)
    assert result["livez"][0] == 200
    assert result["metrics"][0] == 200 and "# TYPE" in result["metrics"][1]

    pid = docker("inspect", "--format", "{{.State.Pid}}", webhook.name).strip()
    status_lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    (uid_line,) = [line for line in status_lines if line.startswith("Uid:")]
    assert set(uid_line.split()[1:]) == {"65532"}


def test_a_deployment_written_for_the_reference_runs_with_only_the_image_swapped(
    webhook_from_a_reference_manifest: RunningWebhook, role_arn: str
) -> None:
    result = webhook_from_a_reference_manifest.converse(admission_review(POD))

    assert result["ready"][0] == 200, (
        f"never ready: {result['ready']}\n{webhook_from_a_reference_manifest.logs()}"
    )
    status, body = result["mutate"]
    assert status == 200, body
    patch = json.loads(base64.b64decode(json.loads(body)["response"]["patch"]))
    mutated = jsonpatch.apply_patch(POD, patch)
    assert irsa_problems(mutated, role_arn=role_arn) == []
    assert "ignored: --logtostderr=true" in webhook_from_a_reference_manifest.logs()


def test_sigterm_stops_the_server_cleanly(webhook: RunningWebhook) -> None:
    assert webhook.converse(admission_review(POD))["ready"][0] == 200
    docker("stop", "--time", "30", webhook.name, timeout=60)
    assert docker("inspect", "--format", "{{.State.ExitCode}}", webhook.name).strip() == "0", webhook.logs()


def test_dockerfile_default_version_is_the_projects(repo_root: Path) -> None:
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    assert f"ARG VERSION={version}\n" in (repo_root / "Dockerfile").read_text()


def test_image_metadata_matches_the_project(image: str, repo_root: Path) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image))
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "org.opencontainers.image.source" in labels
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["pod-identity-webhook"]
    assert config["Cmd"] == ["serve"]
    assert set(config["ExposedPorts"]) == {"8443/tcp", "9999/tcp"}


def test_image_ships_the_pinned_versions_and_nothing_unpinned(image: str, repo_root: Path) -> None:
    listing = docker(
        "run", "--rm", "--pull=never", "--network=none", "--entrypoint", "python3", image, "-c",
        "import importlib.metadata as m; print(*(f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions()))",
    )  # fmt: skip
    installed = dict(line.split("==") for line in listing.split())
    pinned = pins(repo_root)
    unpinned = {
        name: version
        for name, version in installed.items()
        if name != "pod-identity-webhook" and pinned.get(canonicalize_name(name)) != Version(version)
    }
    assert not unpinned, f"installed in the image, not as .ci/constraints.txt pins them: {unpinned}"
