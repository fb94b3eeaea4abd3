from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart.tools import ensure


@pytest.fixture(scope="session")
def base_image(repo_root: Path) -> str:
    """The locally made Python base (scripts/ensure-docker starts the engine and builds it if needed)."""
    return ensure(repo_root, "ensure-docker")


@pytest.fixture(scope="session")
def image(repo_root: Path, base_image: str) -> Iterator[str]:
    """The webhook image built from this checkout's Dockerfile, under a tag no other run uses."""
    tag = f"pod-identity-webhook:test-{os.getpid()}"
    started = time.monotonic()
    built = subprocess.run(
        [str(repo_root / "scripts" / "build-image"), tag, base_image],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if built.returncode != 0:
        raise RuntimeError(f"scripts/build-image failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}")
    print(f"\nimage {tag} built in {time.monotonic() - started:.1f} s")
    yield tag
    subprocess.run(["docker", "rmi", tag], capture_output=True, check=False, timeout=120)
