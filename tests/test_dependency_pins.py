"""`.ci/constraints.txt` pins every dependency, so CI and the image never take an untested upstream release."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.pinned_versions import pins


def declared(repo_root: Path) -> list[Requirement]:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    lines = [
        *project["dependencies"],
        *(line for extra in project["optional-dependencies"].values() for line in extra),
    ]
    return [Requirement(line) for line in lines]


def test_every_declared_dependency_is_pinned_within_its_range(repo_root: Path) -> None:
    pinned = pins(repo_root)
    for requirement in declared(repo_root):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in .ci/constraints.txt: run make lock"
        assert requirement.specifier.contains(pinned[name]), (
            f"{requirement.name}=={pinned[name]} is outside pyproject.toml's {requirement.specifier}: run make lock"
        )


def test_make_test_runs_on_the_pinned_versions(repo_root: Path) -> None:
    installed: dict[str, Version] = {
        canonicalize_name(distribution.metadata["Name"]): Version(distribution.version)
        for distribution in importlib.metadata.distributions()
    }
    differing = {
        name: (version, installed.get(name))
        for name, version in pins(repo_root).items()
        if installed.get(name) != version
    }
    assert not differing, f"pinned vs installed (rerun make test to reinstall): {differing}"


def test_the_sdk_of_the_node_suites_pods_is_pinned_with_its_dependencies(repo_root: Path) -> None:
    """Installed with --no-deps (scripts/ensure-pod-sdk): a dependency missing here would be missing in pods."""
    pinned = pins(repo_root, "pod-sdk.txt")
    assert {"boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "six", "urllib3"} <= set(pinned)
