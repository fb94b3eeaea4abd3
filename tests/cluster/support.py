"""Builders and waiting helpers for the cache tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.fake_apiserver import FakeApiServer
from webhook import metrics
from webhook.cluster.list_watch import Backoff

FAST_BACKOFF = Backoff(initial=0.02, cap=0.2)
ROLE = "eks.amazonaws.com/role-arn"


def service_account(name: str, namespace: str = "default", **annotations: str) -> dict[str, Any]:
    """A ServiceAccount manifest; annotation keyword `role` stands for `eks.amazonaws.com/role-arn`."""
    if "role" in annotations:
        annotations[ROLE] = annotations.pop("role")
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
    }


def role_arn(name: str) -> str:
    return f"arn:aws:iam::111122223333:role/{name}"


def eventually(
    condition: Callable[[], object], *, timeout: float = 10.0, what: str = "the condition"
) -> None:
    """Wait for a background thread to catch up; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def watching(fake: FakeApiServer, watches: int = 1) -> None:
    """Wait until `watches` watches stream, so a control aimed at open watches reaches them."""
    eventually(lambda: fake.open_watches == watches, what=f"{watches} open watch(es)")


def metric(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"pod_identity_webhook_{name}", labels) or 0.0
