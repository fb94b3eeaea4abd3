"""Run as a script: follow the ServiceAccounts of a cluster and print, as JSON, what the cache cost.

It runs in a process of its own so that nothing else (the test runner, the in-test API server and its
100,000 objects) is counted. The baseline is taken after the client has made a request, so the cost of
importing and warming up the `kubernetes` client is not counted as cache.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time

from webhook.cluster.kube_client import api_client
from webhook.cluster.serviceaccount_watch import WatchedServiceAccounts

NAMESPACES = 2000


def service_account_key(number: int) -> tuple[str, str]:
    """(namespace, name) of ServiceAccount `number`: each namespace has its `default` and then apps."""
    return f"team-{number % NAMESPACES}", "default" if number < NAMESPACES else f"app-{number}"


def resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(kubeconfig: str, expected: int) -> None:
    directory = WatchedServiceAccounts(
        api_client=api_client(kubeconfig=kubeconfig),
        annotation_prefix="eks.amazonaws.com",
        fallback_timeout=5.0,
    )
    asyncio.run(directory.fetch("warm-up", "warm-up"))
    gc.collect()
    before = resident_bytes()
    started = time.perf_counter()
    directory.start()
    while len(directory) < expected or not directory.synced:
        time.sleep(0.05)
    synced_after = time.perf_counter() - started
    gc.collect()
    extra = resident_bytes() - before
    keys = [service_account_key(number) for number in range(expected)]
    started = time.perf_counter()
    for namespace, name in keys:
        directory.cached(namespace, name)
    lookup_seconds = (time.perf_counter() - started) / len(keys)
    directory.stop()
    report = {
        "service_accounts": len(directory),
        "extra_rss_mb": round(extra / 1e6, 1),
        "synced_seconds": round(synced_after, 2),
        "lookup_ns": round(lookup_seconds * 1e9),
        "sample": {f"{ns}/{name}": dict(directory.cached(ns, name) or {}) for ns, name in keys[-10:]},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
