"""What 100,000 ServiceAccounts, fed through list+watch, cost the webhook in memory (issue 5's budget: 40 MB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cluster.cache_memory_probe import NAMESPACES, service_account_key
from tests.cluster.support import ROLE
from tests.fake_apiserver import FakeApiServer

SERVICE_ACCOUNTS = 100_000
ROLES = 5000
"""IAM's largest per-account role quota: more distinct roles than one account can have."""
LAST_APPLIED = json.dumps(
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"labels": {"app": "x" * 200}}}
)


def realistic_service_account(number: int) -> dict[str, Any]:
    """As in a large shared cluster: 3 in 10 app ServiceAccounts have a role (a few with more settings), and
    every one carries the annotation `kubectl apply` leaves, which the cache must not keep."""
    namespace, name = service_account_key(number)
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED}
    if number >= NAMESPACES and number % 10 < 3:
        annotations[ROLE] = f"arn:aws:iam::111122223333:role/workload-{number % ROLES}"
        if number % 10 == 0:
            annotations["eks.amazonaws.com/sts-regional-endpoints"] = "true"
            annotations["eks.amazonaws.com/token-expiration"] = "3600"
    metadata = {
        "name": name,
        "namespace": namespace,
        "annotations": annotations,
        "labels": {"team": namespace},
    }
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def test_100000_serviceaccounts_cost_less_than_40_mb(
    fake_apiserver: FakeApiServer, fake_kubeconfig: Path, repo_root: Path
) -> None:
    for number in range(SERVICE_ACCOUNTS):
        fake_apiserver.apply(realistic_service_account(number))

    probe = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("cache_memory_probe.py")),
            str(fake_kubeconfig),
            str(SERVICE_ACCOUNTS),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
    )
    report = json.loads(probe.stdout)
    print(f"ServiceAccount cache: {report}")

    assert report["service_accounts"] == SERVICE_ACCOUNTS

    def sample(number: int) -> dict[str, str]:
        namespace, name = service_account_key(number)
        return dict(report["sample"][f"{namespace}/{name}"])

    assert sample(99_990) == {
        ROLE: "arn:aws:iam::111122223333:role/workload-4990",
        "eks.amazonaws.com/sts-regional-endpoints": "true",
        "eks.amazonaws.com/token-expiration": "3600",
    }
    assert sample(99_991) == {ROLE: "arn:aws:iam::111122223333:role/workload-4991"}
    assert sample(99_999) == {}
    assert report["extra_rss_mb"] < 40
