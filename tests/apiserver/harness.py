"""What the fixtures of the real-API-server suite and of its node (tests/apiserver/node) share: the log files
a failure report shows, and how a control plane is started."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.apiserver.control_plane import ControlPlane, start_control_plane
from tests.apiserver.webhook_process import WebhookFactory

LOG_FILES: dict[str, Path] = {}
"""Logs of the processes started so far; a failing test's report shows their last lines."""
FactoryFor = Callable[[ControlPlane], WebhookFactory]
"""The `factory_for` fixture: webhooks for a control plane."""


def start_plane(
    binaries: tuple[str, str], directory: Path, label: str, *, serves_nodes: bool = False
) -> ControlPlane:
    kube_apiserver, etcd = binaries
    plane = start_control_plane(
        kube_apiserver=kube_apiserver, etcd=etcd, directory=directory, serves_nodes=serves_nodes
    )
    for name, process in plane.processes.items():
        LOG_FILES[f"{label} {name}"] = process.log
    return plane
