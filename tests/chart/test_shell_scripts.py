"""Every shell script of the project passes shellcheck."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.chart.tools import ensure

SCRIPT_FOLDERS = ("scripts", "tests/e2e", "deploy/kind")


def shell_scripts(repo_root: Path) -> list[Path]:
    return sorted(
        path
        for folder in SCRIPT_FOLDERS
        for path in (repo_root / folder).iterdir()
        if path.is_file()
        and path.read_bytes()[:64].split(b"\n")[0] in {b"#!/usr/bin/env bash", b"#!/bin/bash", b"#!/bin/sh"}
    )


@pytest.fixture(scope="session")
def shellcheck(repo_root: Path) -> str:
    return ensure(repo_root, "ensure-shellcheck")


def test_shell_scripts_pass_shellcheck(repo_root: Path, shellcheck: str) -> None:
    scripts = shell_scripts(repo_root)
    names = {path.relative_to(repo_root).as_posix() for path in scripts}
    assert {
        "scripts/ensure-docker",
        "scripts/ensure-helm",
        "tests/e2e/kind.sh",
        "deploy/kind/create-cluster",
    } <= names
    checked = subprocess.run(
        [shellcheck, *map(str, scripts)], capture_output=True, text=True, check=False, timeout=120
    )
    assert checked.returncode == 0, checked.stdout
