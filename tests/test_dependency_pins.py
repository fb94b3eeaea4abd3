"""`.ci/constraints.txt` pins every dependency, so CI and the image never take an untested upstream release."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, Version]:
    """The constraints file as {canonical name: version}; also used by the image test."""
    pinned: dict[str, Version] = {}
    for line in (REPO_ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line!r} is not an exact pin"
            pinned[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pinned


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lines = [
        *project["dependencies"],
        *(line for extra in project["optional-dependencies"].values() for line in extra),
    ]
    return [Requirement(line) for line in lines]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in .ci/constraints.txt: run make lock"
        assert requirement.specifier.contains(pinned[name]), (
            f"{requirement.name}=={pinned[name]} is outside pyproject.toml's {requirement.specifier}: run make lock"
        )


def test_make_test_runs_on_the_pinned_versions() -> None:
    installed: dict[str, Version] = {
        canonicalize_name(distribution.metadata["Name"]): Version(distribution.version)
        for distribution in importlib.metadata.distributions()
    }
    differing = {
        name: (version, installed.get(name))
        for name, version in pins().items()
        if installed.get(name) != version
    }
    assert not differing, f"pinned vs installed (rerun make test to reinstall): {differing}"
