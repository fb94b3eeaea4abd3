"""kube-scheduler and kube-controller-manager v1.20.2, so pods can come from Deployments as in production.

A Deployment's pods reach admission the way almost every pod does: created by the ReplicaSet controller
from the template, with `generateName` and no name yet, then bound to the node by the scheduler. The
controller manager runs only the deployment and replicaset controllers: the others (ServiceAccount tokens,
the root CA ConfigMap, node lifecycle taints...) would change the cluster the other tests see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.apiserver.control_plane import ControlPlane, Process, start_process, wait_until_ready
from tests.integration.server_process import free_ports

READY_LIMIT_SECONDS = 120.0
"""A bound, not a measurement: both answer /healthz within seconds on a quiet machine."""


@dataclass
class Controllers:
    scheduler: str
    controller_manager: str
    plane: ControlPlane
    directory: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self) -> None:
        scheduler_port, manager_port = free_ports(2)
        kubeconfig = str(self.plane.kubeconfig)
        common = [
            "--kubeconfig", kubeconfig,
            "--authentication-kubeconfig", kubeconfig,
            "--authorization-kubeconfig", kubeconfig,
            "--leader-elect=false",
            "--bind-address", "127.0.0.1",
        ]  # fmt: skip
        self.processes["kube-scheduler"] = start_process(
            name="kube-scheduler",
            command=[self.scheduler, *common, "--secure-port", str(scheduler_port), "--port", "0"],
            log=self.directory / "kube-scheduler.log",
        )
        self.processes["kube-controller-manager"] = start_process(
            name="kube-controller-manager",
            command=[
                self.controller_manager, *common,
                "--secure-port", str(manager_port),
                "--port", "0",
                "--controllers", "deployment,replicaset",
                "--cert-dir", str(self.directory / "controller-manager-certs"),
            ],
            log=self.directory / "kube-controller-manager.log",
        )  # fmt: skip
        for name, port in (("kube-scheduler", scheduler_port), ("kube-controller-manager", manager_port)):
            self._wait(name, port)

    def _wait(self, name: str, port: int) -> None:
        def healthy() -> bool:
            # Their serving certificate is self-signed: only whether they answer matters here.
            return httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=2).status_code == 200

        wait_until_ready(self.processes[name], healthy, limit=READY_LIMIT_SECONDS)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.processes.clear()


def start_controllers(
    *, scheduler: str, controller_manager: str, plane: ControlPlane, directory: Path
) -> Controllers:
    controllers = Controllers(
        scheduler=scheduler, controller_manager=controller_manager, plane=plane, directory=directory
    )
    try:
        controllers.start()
    except BaseException:
        controllers.stop()
        raise
    return controllers
