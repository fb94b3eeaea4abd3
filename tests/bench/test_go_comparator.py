"""The Go comparator builds offline, is clean Go, and answers every benchmark review with our patch.

A comparison with a peer that did less work than ours would flatter the peer, so the patch equality the
benchmark checks before measuring is also a test. A missing Go toolchain fails here (the ensure script
installs Debian's), it is never skipped.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from benchmarks import comparator, wrk
from benchmarks.inputs import NAMES, NO_ROLE, Inputs, write_inputs
from benchmarks.measure import Setup
from benchmarks.run import answer_reviews, certificates, go_server, record_answers, webhook_server

SOURCE = Path(comparator.__file__).with_name("go_comparator")


@pytest.fixture(scope="module")
def binary() -> Path:
    return comparator.build()


@pytest.fixture(scope="module")
def answers(
    binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(ours, the comparator's) answer to each benchmark review."""
    work = tmp_path_factory.mktemp("comparator")
    inputs: Inputs = write_inputs(work / "inputs")
    tls = certificates(work / "tls")
    (work / "logs").mkdir()
    setup = Setup(
        bodies=inputs.bodies,
        scripts={name: wrk.write_script(body=path, into=work) for name, path in inputs.bodies.items()},
        ca_file=tls / "ca.crt",
        logs=work / "logs",
    )
    accounts = comparator.write_service_accounts(inputs.service_accounts, into=work / "serviceaccounts.json")
    ours = record_answers(webhook_server(tls=tls, service_accounts=inputs.service_accounts), setup)
    return ours, answer_reviews(go_server(binary, tls=tls, service_accounts=accounts), setup)


@pytest.mark.parametrize("name", NAMES)
def test_the_comparator_answers_with_our_patch(
    answers: tuple[dict[str, bytes], dict[str, bytes]], name: str
) -> None:
    ours, theirs = answers

    assert comparator.difference(ours[name], theirs[name]) is None
    response = json.loads(theirs[name])["response"]
    assert ("patch" in response) == (name != NO_ROLE)


def test_a_different_patch_is_told_apart(answers: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    ours, _ = answers
    review = json.loads(ours["typical"])
    operations = json.loads(base64.b64decode(review["response"]["patch"]))
    review["response"]["patch"] = base64.b64encode(json.dumps(operations[:-1]).encode()).decode()

    why = comparator.difference(ours["typical"], json.dumps(review).encode())

    assert why is not None and why.startswith("patch:")


def test_the_comparator_is_gofmt_and_vet_clean(binary: Path) -> None:
    unformatted = subprocess.run(["gofmt", "-l", "."], cwd=SOURCE, capture_output=True, text=True, check=True)
    vetted = subprocess.run(
        ["go", "vet", "."], cwd=SOURCE, capture_output=True, text=True, check=False,
        env={**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=readonly"},
    )  # fmt: skip

    assert unformatted.stdout == ""
    assert vetted.returncode == 0, vetted.stderr
