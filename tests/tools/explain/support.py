"""Builders of the objects `explain` reads, written to read like the manifests people have."""

from __future__ import annotations

from typing import Any

PREFIX = "eks.amazonaws.com"
ROLE_ARN = "arn:aws:iam::111122223333:role/s3-reader"
OTHER_ROLE_ARN = "arn:aws:iam::111122223333:role/other"
MOUNT_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount"


def service_account(
    annotations: dict[str, str] | None = None, *, name: str = "app", namespace: str | None = "default"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def container(name: str, **env: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "image": "example"}
    if env:
        spec["env"] = [{"name": key, "value": value} for key, value in env.items()]
    return spec


def pod(
    *containers: dict[str, Any],
    name: str = "app",
    namespace: str | None = "default",
    service_account: str = "app",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    init_containers: tuple[dict[str, Any], ...] = (),
    volumes: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "containers": list(containers or (container("app"),)),
    }
    if init_containers:
        spec["initContainers"] = list(init_containers)
    if volumes:
        spec["volumes"] = list(volumes)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def role_annotation(arn: str = ROLE_ARN) -> dict[str, str]:
    return {f"{PREFIX}/role-arn": arn}
