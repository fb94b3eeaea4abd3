"""Runs inside a pod, as its application would: what the process sees, and what boto3's default credential
chain makes of it. Prints one JSON line (after MARKER) that the tests read from the pod's log.

With `--then-wait` it stays up after reporting, as a Deployment's container must (restartPolicy Always).

Standalone on purpose: the pod has Debian's python3 and the pinned SDK (PYTHONPATH), not this repository.
The tests run it with `python3 -c` and judge the report on the host with tests/e2e/pod_assertions.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

MARKER = "PROBE-REPORT "
TOKEN_VARIABLES = ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")


def read_token(path: str) -> dict[str, Any]:
    try:
        with open(path) as file:
            return {"path": path, "token": file.read()}
    except OSError as error:
        return {"path": path, "error": f"{type(error).__name__}: {error}"}


def credentials() -> dict[str, Any]:
    """The chain as an application meets it: credentials found (by which provider), then who STS says we are."""
    # Imported here, so the tests can import this module for MARKER on a host whose environment cannot
    # hold boto3 next to the kubernetes client (.ci/pod-sdk.txt says why).
    import boto3  # type: ignore[import-not-found]  # noqa: PLC0415

    try:
        session = boto3.Session()
        found = session.get_credentials()
        if found is None:
            return {"outcome": "no credentials"}
        method = found.method
        frozen = found.get_frozen_credentials()
        identity = session.client("sts").get_caller_identity()
    except Exception as error:
        response = getattr(error, "response", None) or {}
        return {
            "outcome": "error",
            "error": type(error).__name__,
            "code": (response.get("Error") or {}).get("Code", ""),
            "message": str(error),
        }
    return {
        "outcome": "credentials",
        "method": method,
        "access_key_id": frozen.access_key,
        "arn": identity["Arn"],
    }


def main() -> None:
    report = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "environment": {name: value for name, value in os.environ.items() if name.startswith("AWS_")},
        "tokens": {name: read_token(os.environ[name]) for name in TOKEN_VARIABLES if name in os.environ},
        "credentials": credentials(),
    }
    sys.stdout.write(MARKER + json.dumps(report) + "\n")
    sys.stdout.flush()
    while "--then-wait" in sys.argv:
        time.sleep(3600)


if __name__ == "__main__":
    main()
