"""One real node on this machine: our own containerd instance and a kubelet v1.20.2, registered with the real
API server of tests/apiserver.

Everything the node makes lives under one temporary directory (containerd's root, state and socket, the
kubelet's root, certificates and volume mounts), under one cgroup of its own in every hierarchy, and in two
processes started here; `stop` removes all of it by PID, mount point and cgroup path, and puts back the
kernel settings the kubelet changes. A containerd or Docker engine already running is never touched. Pods
use the host's network only: the node's addresses are loopback, and nothing may reach 169.254.169.254.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.apiserver.cluster import Cluster
from tests.apiserver.control_plane import ControlPlane, Process, start_process, wait_until_ready
from tests.apiserver.node.images import PAUSE_IMAGE, Image
from tests.integration.server_process import free_ports

KERNEL_SETTINGS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
"""What the kubelet sets at start (it refuses to run with --protect-kernel-defaults otherwise)."""
CGROUPS = Path("/sys/fs/cgroup")
POD_LOGS = Path("/var/log/pods")
CONTAINER_LOGS = Path("/var/log/containers")
"""Where kubelet v1.20 writes container logs, whatever its root directory: cleaned of our pods at the end."""
SHIM_SOCKETS = Path("/run/containerd/s")
"""Fixed in containerd 1.6, whatever its state directory; emptied by the shims as they exit."""
HOST_DIRECTORIES = (CONTAINER_LOGS, POD_LOGS, SHIM_SOCKETS, SHIM_SOCKETS.parent)
"""Directories outside ours that the node creates when absent (children first): removed again if empty."""
CNI_PLUGINS = Path("/usr/lib/cni")
READY_LIMIT_SECONDS = 180.0
"""A bound, not a measurement: the node is Ready in about 15 s on a quiet machine."""
COMMAND_LIMIT_SECONDS = 300.0
NO_METADATA = {"AWS_EC2_METADATA_DISABLED": "true"}
"""The kubelet's built-in AWS credential provider probes the EC2 metadata address unless told not to."""


@dataclass
class Node:
    kubelet: str
    containerd: str
    directory: Path
    plane: ControlPlane
    name: str = field(default_factory=lambda: socket.gethostname().lower())
    cgroup_root: str = field(default_factory=lambda: f"piw-node-{secrets.token_hex(4)}")
    processes: dict[str, Process] = field(default_factory=dict)
    kernel_settings: dict[str, str] = field(default_factory=dict)
    created_host_directories: list[Path] = field(default_factory=list)

    @property
    def containerd_socket(self) -> Path:
        return self.directory / "containerd" / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.directory / "kubelet"

    def start(self, images: list[Image]) -> None:
        address = socket.gethostbyname(self.name)
        if not address.startswith("127."):
            raise RuntimeError(
                f"the host name {self.name} resolves to {address}: the API server reaches the kubelet by host"
                " name, and must do so over loopback (map it to 127.0.0.1 in /etc/hosts)"
            )
        self.created_host_directories = [each for each in HOST_DIRECTORIES if not each.exists()]
        self._start_containerd()
        for image in images:
            self.ctr("images", "import", str(image.archive))
        self._save_kernel_settings()
        self._make_cgroup_root()
        self._start_kubelet()

    def ctr(self, *args: str) -> str:
        completed = subprocess.run(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_LIMIT_SECONDS,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {completed.stderr}")
        return completed.stdout

    def _start_containerd(self) -> None:
        base = self.directory / "containerd"
        cni = self.directory / "cni"
        for each in (base, cni):
            each.mkdir(parents=True, exist_ok=True)
        (cni / "10-loopback.conflist").write_text(
            '{"cniVersion": "0.4.0", "name": "loopback", "plugins": [{"type": "loopback"}]}\n'
        )
        config = base / "config.toml"
        config.write_text(
            f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{base / "containerd.ttrpc.sock"}"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails ("can't get final child's PID")
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{base / "runc"}"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{CNI_PLUGINS}"
  conf_dir = "{cni}"
"""
        )
        self.processes["containerd"] = start_process(
            name="containerd",
            command=[self.containerd, "--config", str(config), "--log-level", "error"],
            log=self.directory / "containerd.log",
            environment=NO_METADATA,
        )
        self._wait("containerd", self._containerd_answers)

    def _containerd_answers(self) -> bool:
        with contextlib.suppress(RuntimeError):
            self.ctr("version")
            return True
        return False

    def _save_kernel_settings(self) -> None:
        for setting in KERNEL_SETTINGS:
            self.kernel_settings[setting] = (Path("/proc/sys") / setting).read_text().strip()

    def _restore_kernel_settings(self) -> None:
        for setting, value in self.kernel_settings.items():
            (Path("/proc/sys") / setting).write_text(value)
        self.kernel_settings.clear()

    def _cgroup_hierarchies(self) -> list[Path]:
        return [each for each in CGROUPS.iterdir() if each.is_dir() and not each.is_symlink()]

    def _make_cgroup_root(self) -> None:
        """The kubelet's --cgroup-root must exist in every hierarchy; a new cpuset needs its parent's CPUs
        and memory nodes before anything can join it."""
        for hierarchy in self._cgroup_hierarchies():
            path = hierarchy / self.cgroup_root
            path.mkdir(exist_ok=True)
            for setting in ("cpuset.cpus", "cpuset.mems"):
                if (path / setting).exists():
                    (path / setting).write_text((hierarchy / setting).read_text())

    def _remove_cgroups(self) -> None:
        for hierarchy in self._cgroup_hierarchies():
            root = hierarchy / self.cgroup_root
            if not root.exists():
                continue
            for directory in sorted(
                (path for path in root.rglob("*") if path.is_dir()), key=lambda p: len(p.parts), reverse=True
            ):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()

    def _start_kubelet(self) -> None:
        pki = self.plane.pki
        root = self.kubelet_root
        root.mkdir(parents=True, exist_ok=True)
        client = pki.issue(
            f"kubelet-{self.name}", common_name=f"system:node:{self.name}", organization="system:nodes"
        )
        serving = pki.issue(
            f"kubelet-{self.name}-serving", common_name=self.name, dns_names=(self.name,), server=True
        )
        kubeconfig = self.plane.write_kubeconfig(self.directory / "kubelet.kubeconfig", certificate=client)
        port, healthz_port = free_ports(2)
        self.processes["kubelet"] = start_process(
            name="kubelet",
            command=[
                self.kubelet,
                "--kubeconfig", str(kubeconfig),
                "--hostname-override", self.name,
                "--root-dir", str(root),
                "--cert-dir", str(root / "pki"),
                "--volume-plugin-dir", str(root / "volume-plugins"),
                "--tls-cert-file", str(serving[0]),
                "--tls-private-key-file", str(serving[1]),
                "--client-ca-file", str(pki.ca),
                "--anonymous-auth=false",
                "--authorization-mode", "AlwaysAllow",
                "--address", "127.0.0.1",
                "--port", str(port),
                "--read-only-port", "0",
                "--healthz-bind-address", "127.0.0.1",
                "--healthz-port", str(healthz_port),
                "--container-runtime", "remote",
                "--container-runtime-endpoint", f"unix://{self.containerd_socket}",
                "--pod-infra-container-image", PAUSE_IMAGE,
                "--fail-swap-on=false",
                "--cgroup-driver", "cgroupfs",
                "--cgroup-root", f"/{self.cgroup_root}",
                "--make-iptables-util-chains=false",
                "--resolv-conf", "/etc/resolv.conf",
                "--image-gc-high-threshold", "100",
                "--image-gc-low-threshold", "99",
                "--eviction-hard", "",
                "--v", "1",
            ],
            log=self.directory / "kubelet.log",
            environment=NO_METADATA,
        )  # fmt: skip
        self._wait("kubelet", self._node_ready)
        self._lift_not_ready_taint()

    def _lift_not_ready_taint(self) -> None:
        """The kubelet registers the node tainted not-ready; the node lifecycle controller, which does not
        run here, lifts the taint once the node is Ready. Without that the scheduler places no pod."""
        with self.plane.admin_client() as client:
            Cluster(client).merge_patch(f"/api/v1/nodes/{self.name}", {"spec": {"taints": None}})

    def _node_ready(self) -> bool:
        with self.plane.admin_client(timeout=5) as client:
            response = client.get(f"/api/v1/nodes/{self.name}")
        if response.status_code != 200:
            return False
        conditions = response.json().get("status", {}).get("conditions", [])
        return any(each["type"] == "Ready" and each["status"] == "True" for each in conditions)

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        wait_until_ready(self.processes[name], ready, limit=READY_LIMIT_SECONDS)

    def stop(self) -> None:
        """Everything the node made goes, even after a failed start: each step runs whatever came before."""
        pods = self._pods_of_this_node()
        kubelet = self.processes.pop("kubelet", None)
        if kubelet is not None:
            kubelet.stop()
        if "containerd" in self.processes:
            self._remove_containers()
            self.processes.pop("containerd").stop()
        self._kill_leftover_shims()
        self._unmount_everything()
        self._remove_cgroups()
        self._restore_kernel_settings()
        for namespace, name, uid in pods:
            shutil.rmtree(POD_LOGS / f"{namespace}_{name}_{uid}", ignore_errors=True)
            for link in CONTAINER_LOGS.glob(f"{name}_{namespace}_*.log"):
                link.unlink(missing_ok=True)
        for directory in self.created_host_directories:
            with contextlib.suppress(OSError):
                directory.rmdir()

    def _pods_of_this_node(self) -> list[tuple[str, str, str]]:
        with contextlib.suppress(Exception), self.plane.admin_client(timeout=10) as client:
            listed = Cluster(client).get(f"/api/v1/pods?fieldSelector=spec.nodeName={self.name}")
            return [
                (each["metadata"]["namespace"], each["metadata"]["name"], each["metadata"]["uid"])
                for each in listed["items"]
            ]
        return []

    def _remove_containers(self) -> None:
        """Kill every container of our containerd's CRI namespace, so no shim or container outlives the node."""
        with contextlib.suppress(RuntimeError):
            for task in self.ctr("tasks", "list", "--quiet").split():
                with contextlib.suppress(RuntimeError):
                    self.ctr("tasks", "kill", "--signal", "SIGKILL", task)
            for container in self.ctr("containers", "list", "--quiet").split():
                deadline = time.monotonic() + 30
                while True:
                    try:
                        self.ctr("tasks", "delete", "--force", container)
                        break
                    except RuntimeError as error:
                        if "not found" in str(error) or time.monotonic() > deadline:
                            break
                        time.sleep(0.2)
                with contextlib.suppress(RuntimeError):
                    self.ctr("containers", "delete", container)

    def _kill_leftover_shims(self) -> None:
        """A containerd shim outlives containerd by design; ours name our socket on their command line."""
        address = str(self.containerd_socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if address in command and command[0].endswith(b"containerd-shim-runc-v2"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)

    def _unmount_everything(self) -> None:
        """Projected-volume tmpfs, container root filesystems and sandbox /dev/shm, deepest first."""
        prefix = str(self.directory.resolve()) + "/"
        for _ in range(3):
            mounts = [
                line.split()[4].replace("\\040", " ")
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
            ]
            ours = [each for each in mounts if each.startswith(prefix)]
            if not ours:
                return
            for mount_point in sorted(ours, key=len, reverse=True):
                subprocess.run(["umount", "--lazy", mount_point], capture_output=True, check=False)


def start_node(
    *, kubelet: str, containerd: str, directory: Path, plane: ControlPlane, images: list[Image]
) -> Node:
    node = Node(kubelet=kubelet, containerd=containerd, directory=directory, plane=plane)
    try:
        node.start(images)
    except BaseException:
        node.stop()
        raise
    return node
