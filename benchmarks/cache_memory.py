"""The ServiceAccount cache at scale: 100,000 ServiceAccounts listed and watched from the in-test API server.

The cache tests' probe (tests/cluster/cache_memory_probe.py) does the measuring in a process of its own, so
neither this process nor the API server's copy of the objects is counted. It runs twice, at 1,000 and at
the full count, so the report can show that a lookup does not slow down as the cache grows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.targets import CacheFigure
from tests.cluster.test_cache_memory import realistic_service_account
from tests.fake_apiserver import FakeApiServer

REPO = Path(__file__).resolve().parent.parent
PROBE = REPO / "tests" / "cluster" / "cache_memory_probe.py"
FULL_COUNT = 100_000
SMOKE_COUNT = 2_000
SMALL_COUNT = 1_000


def measure(*, smoke: bool) -> CacheFigure:
    count = SMOKE_COUNT if smoke else FULL_COUNT
    server = FakeApiServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="pod-identity-webhook-cache-") as directory:
            kubeconfig = server.write_kubeconfig(Path(directory) / "kubeconfig")
            _apply(server, range(SMALL_COUNT))
            small = _probe(kubeconfig, SMALL_COUNT)
            _apply(server, range(SMALL_COUNT, count))
            large = _probe(kubeconfig, count)
    finally:
        server.stop()
    return CacheFigure(
        service_accounts=large["service_accounts"],
        extra_rss_bytes=round(large["extra_rss_mb"] * 1e6),
        lookup_ns_small=small["lookup_ns"],
        lookup_ns_large=large["lookup_ns"],
    )


def _apply(server: FakeApiServer, numbers: range) -> None:
    for number in numbers:
        server.apply(realistic_service_account(number))


def _probe(kubeconfig: Path, count: int) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(PROBE), str(kubeconfig), str(count)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the ServiceAccount cache probe failed: {completed.stderr.strip()[-2000:]}")
    report: dict[str, Any] = json.loads(completed.stdout)
    return report
