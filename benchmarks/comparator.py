"""The Go comparator: the webhook a user could run instead of ours, measured in the same runs.

A bare app that does nothing only says what the server stack costs; what an operator weighs is the webhook
they would otherwise deploy, and AWS's is written in Go. `benchmarks/go_comparator/main.go` is the harder
form of that peer: standard library only, a typed decode of only the fields it needs and the patch built
directly (AWS's own decodes the whole Pod and re-serialises every container). `scripts/ensure-go-comparator`
builds it, installing Debian's golang-go when Go is missing, so the comparison is never silently left out.

It reads the benchmark's ServiceAccounts from the very YAML file our server reads, converted to JSON here
because Go's standard library has no YAML parser. Before it is measured, its answer to every input must
carry the same patch as ours: otherwise the two would not be doing the same work.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from webhook.cluster.yaml_documents import load_all

REPO = Path(__file__).resolve().parent.parent
ENSURE_SCRIPT = REPO / "scripts" / "ensure-go-comparator"
NAME = "go-comparator"


def build() -> Path:
    """The comparator's binary, built (and Go installed) if need be."""
    completed = subprocess.run([str(ENSURE_SCRIPT)], capture_output=True, text=True, check=False, timeout=900)
    if completed.returncode != 0:
        raise RuntimeError(
            f"scripts/ensure-go-comparator failed ({completed.returncode}): {completed.stderr.strip()}"
        )
    return Path(completed.stdout.strip().splitlines()[-1])


def version(binary: Path) -> str:
    """The Go release the comparator was built with, for the report's header."""
    completed = subprocess.run(["go", "version", str(binary)], capture_output=True, text=True, check=False)
    return completed.stdout.rpartition(": ")[2].strip() or "unknown"


def write_service_accounts(yaml_file: Path, *, into: Path) -> Path:
    """The ServiceAccounts of `yaml_file` as the JSON list of {namespace, name, annotations} Go reads."""
    accounts = [
        {
            "namespace": document["metadata"]["namespace"],
            "name": document["metadata"]["name"],
            "annotations": document["metadata"].get("annotations") or {},
        }
        for document in load_all(yaml_file.read_text())
        if document and document.get("kind") == "ServiceAccount"
    ]
    into.write_text(json.dumps(accounts))
    return into


def command(
    binary: Path, *, tls: Path, service_accounts: Path, port: int, host: str, region: str
) -> list[str]:
    return [
        str(binary),
        "-tls-cert", str(tls / "tls.crt"), "-tls-key", str(tls / "tls.key"),
        "-bind-address", host, "-port", str(port),
        "-service-accounts", str(service_accounts), "-aws-default-region", region,
    ]  # fmt: skip


def difference(ours: bytes, theirs: bytes) -> str | None:
    """Why the comparator's answer is not ours, or None when they say the same: the same review version,
    uid and verdict, and the same JSON patch operations in the same order (the bytes may differ)."""
    mine, other = _meaning(ours), _meaning(theirs)
    if mine == other:
        return None
    for key in mine.keys() | other.keys():
        if mine.get(key) != other.get(key):
            return f"{key}: ours {mine.get(key)!r}, the comparator's {other.get(key)!r}"
    raise AssertionError("unreachable")  # pragma: no cover


def _meaning(answer: bytes) -> dict[str, Any]:
    review = json.loads(answer)
    response = review.get("response") or {}
    patch = response.get("patch")
    return {
        "apiVersion": review.get("apiVersion"),
        "kind": review.get("kind"),
        "uid": response.get("uid"),
        "allowed": response.get("allowed"),
        "patchType": response.get("patchType"),
        "patch": json.loads(base64.b64decode(patch)) if patch else None,
        "other response fields": sorted(set(response) - {"uid", "allowed", "patchType", "patch"}),
    }
