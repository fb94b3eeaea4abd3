"""What the numbers were measured on: the machine, its load, and the versions of everything in the path."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import ssl
import subprocess
from pathlib import Path

from benchmarks import wrk

_PACKAGES = ("uvicorn", "h11", "httptools", "uvloop", "fastapi", "starlette", "msgspec", "prometheus-client")


def describe(repo: Path, *, go_comparator: str) -> list[tuple[str, str]]:
    """(what, value) pairs for the report's header; `go_comparator` is the Go release it was built with."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        ("CPU", _cpu_model()),
        ("cores", f"{os.cpu_count()} (server pinned to CPU 0, load generator to CPU 1)"),
        ("memory", _memory()),
        ("kernel", platform.release()),
        ("load average at start", f"{load} (1, 5, 15 min; other work on the machine shows here)"),
        ("python", platform.python_version()),
        ("OpenSSL", ssl.OPENSSL_VERSION),
        ("packages", ", ".join(_package_versions())),
        ("load generators", f"{wrk.version()}; benchmarks/open_loop.py"),
        ("Go comparator", f"{go_comparator}, standard library only"),
        ("webhook", _commit(repo)),
    ]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _package_versions() -> list[str]:
    found = []
    for name in _PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return found


def _commit(repo: Path) -> str:
    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return completed.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "no commit yet"
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--", "webhook") else ""
    return f"{commit}{dirty}"
