"""The external programs the chart, script and image tests drive, installed by the project's own scripts.

Each test area gets its program from a session fixture that runs the matching `scripts/ensure-*`: the same
scripts `make tools` runs, so a missing program is installed (or the test fails saying why), never skipped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def ensure(repo_root: Path, script: str) -> str:
    """Run `scripts/<script>` and return the last line it prints (a path or an image name)."""
    completed = subprocess.run(
        [str(repo_root / "scripts" / script)], capture_output=True, text=True, check=False, timeout=900
    )
    if completed.returncode != 0:
        raise RuntimeError(f"scripts/{script} failed ({completed.returncode}):\n{completed.stderr}")
    return completed.stdout.strip().splitlines()[-1]
