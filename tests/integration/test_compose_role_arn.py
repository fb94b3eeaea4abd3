"""`serve --compose-role-arn`: the real process reads the instance's account and partition from the EC2
instance metadata at start (a loopback fake: the helper refuses anything else) and completes role names."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.engine.support import apply, container, pod
from tests.fake_imds import FakeInstanceMetadata, fake_instance_metadata
from tests.integration.server_process import (
    EXIT_LIMIT_SECONDS,
    Certificates,
    clean_environment,
    refuse_real_instance_metadata,
    start_server,
)
from tests.server.reviews import admission_review, allowing_answer_patch, from_replicaset


def test_serve_completes_a_role_name_with_the_instance_account_and_partition(
    certificates: Certificates,
    service_account_file: Path,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> None:
    document = {"accountId": "444455556666", "region": "cn-northwest-1"}
    with fake_instance_metadata(FakeInstanceMetadata(document=document)) as fake:
        server = start_server(
            executable=webhook_executable,
            cwd=repo_root,
            certificates=certificates,
            service_account_file=service_account_file,
            log=tmp_path / "serve.log",
            extra_args=("--compose-role-arn",),
            environment={"AWS_EC2_METADATA_SERVICE_ENDPOINT": fake.url},
        )
    try:
        original = from_replicaset(pod(container("app"), service_account="misconfigured"))
        original["metadata"]["namespace"] = "shop"
        review = admission_review(original)
        with server.client() as client:
            answer = client.post("/mutate", json=review).json()
        patched = apply(original, allowing_answer_patch(answer, review=review))
    finally:
        assert server.terminate() == 0
    env = {entry["name"]: entry.get("value") for entry in patched["spec"]["containers"][0]["env"]}
    assert env["AWS_ROLE_ARN"] == "arn:aws-cn:iam::444455556666:role/checkout-role"
    assert [method for method, _, _ in fake.requests] == ["PUT", "GET"]


def test_serve_stops_at_once_with_one_line_when_the_instance_metadata_cannot_be_read(
    certificates: Certificates, service_account_file: Path, webhook_executable: list[str], repo_root: Path
) -> None:
    with fake_instance_metadata(FakeInstanceMetadata(token_status=403)) as fake:
        finished = subprocess.run(
            [*webhook_executable, "serve", "--compose-role-arn", "--tls-cert", str(certificates.cert),
             "--tls-key", str(certificates.key), "--service-account-file", str(service_account_file)],
            cwd=repo_root,
            env={**clean_environment(), "AWS_EC2_METADATA_SERVICE_ENDPOINT": fake.url},
            capture_output=True,
            text=True,
            timeout=EXIT_LIMIT_SECONDS,
            check=False,
        )  # fmt: skip

    assert finished.returncode == 1
    (line,) = finished.stderr.strip().splitlines()[-1:]
    assert line.startswith("pod-identity-webhook: error: --compose-role-arn needs the instance's account")
    assert "HTTP 403" in line


@pytest.mark.parametrize(
    ("arguments", "endpoint"),
    [
        (["--compose-role-arn"], None),
        (["--compose-role-arn"], "http://169.254.169.254"),
        (["--compose-role-arn=true"], "http://[fd00:ec2::254]"),
        (["--compose-role-arn"], "http://metadata.example.com"),
    ],
)
def test_the_helper_refuses_to_start_compose_without_a_loopback_metadata_address(
    arguments: list[str], endpoint: str | None
) -> None:
    environment = {} if endpoint is None else {"AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint}

    with pytest.raises(RuntimeError, match="refusing to start serve --compose-role-arn"):
        refuse_real_instance_metadata(arguments, environment=environment)
