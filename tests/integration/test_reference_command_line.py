"""The real process, started as a manifest written for amazon-eks-pod-identity-webhook starts it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.engine.support import apply, container, pod
from tests.integration.conftest import ROLE_ARN
from tests.integration.server_process import Certificates, start_server
from tests.reference_manifest import REFERENCE_FLAGS
from tests.server.reviews import admission_review, allowing_answer_patch, from_replicaset
from tests.validation import assert_valid_pod

COMPAT_SCRIPT = str(Path(sys.executable).with_name("pod-identity-webhook-compat"))
"""The console script the image links as /webhook."""


@pytest.mark.parametrize(
    "entry_point",
    ["flags-alone", "webhook-compat"],
    ids=["pod-identity-webhook-flags-alone", "slash-webhook"],
)
def test_the_reference_example_command_line_runs(
    entry_point: str,
    *,
    certificates: Certificates,
    service_account_file: Path,
    webhook_executable: list[str],
    repo_root: Path,
    tmp_path: Path,
) -> None:
    """The reference's own example arguments, through `pod-identity-webhook` given flags alone and through the
    image's /webhook (`pod-identity-webhook-compat`); only the ports and certificate paths are the test's."""
    server = start_server(
        executable=webhook_executable if entry_point == "flags-alone" else [COMPAT_SCRIPT],
        cwd=repo_root,
        certificates=certificates,
        service_account_file=service_account_file,
        log=tmp_path / "serve.log",
        command=(),
        extra_args=(*REFERENCE_FLAGS, "-v=4", "--shutdown-delay=0"),
    )
    try:
        original = from_replicaset(pod(container("app"), service_account="checkout"))
        original["metadata"]["namespace"] = "shop"
        review = admission_review(original)
        with server.client() as client:
            patched = apply(
                original, allowing_answer_patch(client.post("/mutate", json=review).json(), review=review)
            )
        assert_valid_pod(patched, original=original)
        env = {entry["name"]: entry.get("value") for entry in patched["spec"]["containers"][0]["env"]}
        assert env["AWS_ROLE_ARN"] == ROLE_ARN
    finally:
        assert server.terminate() == 0
    assert "ignored: --logtostderr=true" in server.output()
