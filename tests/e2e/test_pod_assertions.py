"""The end-to-end checks run here on pods the real engine mutated, so kind.sh asserts what the local tests
prove, and each check is shown to catch the fault it exists for."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.pod_assertions import (
    environment_problems,
    irsa_problems,
    pod_identity_problems,
    token_problems,
    untouched_problems,
)
from tests.engine.support import ROLE_ARN, container, inject, irsa, pod, pod_identity
from webhook.engine.settings import MutationSettings

REGIONAL = MutationSettings(aws_default_region="us-west-2")
SKIP_ANNOTATION = {"eks.amazonaws.com/skip-containers": "sidecar"}


def irsa_pod() -> dict[str, Any]:
    original = pod(container("app"), container("sidecar"), annotations=SKIP_ANNOTATION)
    return inject(original, irsa(), REGIONAL).pod


def pod_identity_pod() -> dict[str, Any]:
    return inject(pod(container("app")), pod_identity()).pod


def test_a_pod_the_engine_gave_a_role_passes_the_irsa_check() -> None:
    assert irsa_problems(irsa_pod(), role_arn=ROLE_ARN, region="us-west-2", skip=["sidecar"]) == []


def test_a_pod_the_engine_gave_pod_identity_passes_its_check() -> None:
    assert pod_identity_problems(pod_identity_pod()) == []


def test_an_unmutated_pod_passes_the_untouched_check_and_fails_the_others() -> None:
    plain = pod(container("app"))
    assert untouched_problems(plain) == []
    assert irsa_problems(plain, role_arn=ROLE_ARN) != []
    assert pod_identity_problems(plain) != []


def _without_env(pod_json: dict[str, Any], name: str) -> dict[str, Any]:
    broken = copy.deepcopy(pod_json)
    for item in broken["spec"]["containers"]:
        item["env"] = [variable for variable in item.get("env", []) if variable["name"] != name]
    return broken


def _without_volume(pod_json: dict[str, Any], name: str) -> dict[str, Any]:
    broken = copy.deepcopy(pod_json)
    broken["spec"]["volumes"] = [v for v in broken["spec"]["volumes"] if v["name"] != name]
    return broken


def _without_mounts(pod_json: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(pod_json)
    for item in broken["spec"]["containers"]:
        item.pop("volumeMounts", None)
    return broken


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda p: _without_env(p, "AWS_ROLE_ARN"), "container 'app': AWS_ROLE_ARN is None"),
        (lambda p: _without_env(p, "AWS_REGION"), "container 'app': AWS_REGION is None"),
        (lambda p: _without_volume(p, "aws-iam-token"), "pod has no volume 'aws-iam-token'"),
        (_without_mounts, "container 'app': expected one read-only mount of 'aws-iam-token'"),
    ],
    ids=["role", "region", "volume", "mount"],
)
def test_irsa_check_names_what_is_missing(breakage: Any, expected: str) -> None:
    problems = irsa_problems(breakage(irsa_pod()), role_arn=ROLE_ARN, region="us-west-2", skip=["sidecar"])
    assert any(problem.startswith(expected) for problem in problems), problems


def test_irsa_check_sees_a_container_that_should_have_been_skipped_but_was_not() -> None:
    assert irsa_problems(irsa_pod(), role_arn=ROLE_ARN, region="us-west-2") == [
        "container 'sidecar': AWS_ROLE_ARN is None, expected 'arn:aws:iam::111122223333:role/checkout'",
        "container 'sidecar': AWS_WEB_IDENTITY_TOKEN_FILE is None, expected "
        "'/var/run/secrets/eks.amazonaws.com/serviceaccount/token'",
        "container 'sidecar': AWS_REGION is None, expected 'us-west-2'",
        "container 'sidecar': AWS_DEFAULT_REGION is None, expected 'us-west-2'",
        "container 'sidecar': expected one read-only mount of 'aws-iam-token' at "
        "/var/run/secrets/eks.amazonaws.com/serviceaccount",
    ]


def test_pod_identity_check_needs_the_label() -> None:
    unlabelled = pod_identity_pod()
    del unlabelled["metadata"]["labels"]["eks.amazonaws.com/pod-identity"]
    assert pod_identity_problems(unlabelled) == [
        "pod label eks.amazonaws.com/pod-identity is None, expected 'enabled'"
    ]


def test_untouched_check_sees_injected_credentials() -> None:
    assert untouched_problems(irsa_pod()) != []


def _token(**claims: Any) -> str:
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


GOOD_CLAIMS = {
    "aud": ["sts.amazonaws.com"],
    "sub": "system:serviceaccount:shop:checkout",
    "iss": "https://oidc.example.com/cluster",
}


@pytest.mark.parametrize(
    ("claims", "problems"),
    [
        (GOOD_CLAIMS, []),
        ({**GOOD_CLAIMS, "aud": "sts.amazonaws.com"}, []),
        ({**GOOD_CLAIMS, "aud": ["https://kubernetes.default.svc"]}, ["token aud"]),
        ({**GOOD_CLAIMS, "sub": "system:serviceaccount:shop:default"}, ["token sub"]),
        ({**GOOD_CLAIMS, "iss": "https://kubernetes.default.svc"}, ["token iss"]),
    ],
    ids=["good", "audience-as-string", "wrong-audience", "wrong-subject", "wrong-issuer"],
)
def test_token_check_reads_audience_subject_and_issuer(claims: dict[str, Any], problems: list[str]) -> None:
    found = token_problems(
        _token(**claims),
        audience="sts.amazonaws.com",
        namespace="shop",
        service_account="checkout",
        issuer="https://oidc.example.com/cluster",
    )
    assert [problem.split(" is ")[0] for problem in found] == problems


def test_token_check_rejects_what_is_not_a_jwt() -> None:
    assert token_problems(
        "cat: token: Permission denied", audience="a", namespace="n", service_account="s"
    ) == ["not a JWT: expected three dot-separated parts"]


def test_environment_check_reads_env_output() -> None:
    output = "PATH=/usr/bin\nAWS_ROLE_ARN=arn:aws:iam::111122223333:role/checkout\nEMPTY=\n"
    assert environment_problems(output, {"AWS_ROLE_ARN": ROLE_ARN, "EMPTY": ""}) == []
    assert environment_problems(output, {"AWS_REGION": "us-west-2"}) == [
        "process environment: AWS_REGION is None, expected 'us-west-2'"
    ]


def _run_module(repo_root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.pod_assertions", *args],
        cwd=repo_root,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_command_line_passes_a_good_pod_as_kind_sh_calls_it(repo_root: Path, tmp_path: Path) -> None:
    pod_file = tmp_path / "irsa.json"
    pod_file.write_text(json.dumps(irsa_pod()))
    completed = _run_module(
        repo_root, "irsa", str(pod_file), "--role-arn", ROLE_ARN, "--region", "us-west-2", "--skip", "sidecar"
    )
    assert (completed.returncode, completed.stdout.strip()) == (0, "ok irsa")


def test_command_line_fails_and_names_the_problem(repo_root: Path) -> None:
    completed = _run_module(repo_root, "untouched", "-", stdin=json.dumps(irsa_pod()))
    assert completed.returncode == 1
    assert "FAIL untouched: container 'app': has AWS_ROLE_ARN" in completed.stderr


def test_token_check_reads_the_lifetime_the_volume_asked_for() -> None:
    token = _token(**{**GOOD_CLAIMS, "iat": 1_000, "exp": 1_000 + 3600})
    check = {"audience": "sts.amazonaws.com", "namespace": "shop", "service_account": "checkout"}
    assert token_problems(token, lifetime=3600, **check) == []
    assert token_problems(token, lifetime=86400, **check) == [
        "token lives 3600s (exp - iat), expected 86400s"
    ]
