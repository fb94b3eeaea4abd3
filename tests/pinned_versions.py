"""The versions `.ci/constraints.txt` pins, for the tests that hold the test environment and the image to them
(and those of `.ci/pod-sdk.txt`, the SDK pods of the real-node suite run)."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version


def pins(repo_root: Path, file: str = "constraints.txt") -> dict[str, Version]:
    """A pins file of .ci/ as {canonical name: version}; a line that is not an exact pin fails the test."""
    pinned: dict[str, Version] = {}
    for line in (repo_root / ".ci" / file).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line!r} is not an exact pin"
            pinned[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pinned
