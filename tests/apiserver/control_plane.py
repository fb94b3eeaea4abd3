"""A real etcd and kube-apiserver v1.20.2 on loopback, with their own PKI, token issuer and admin credentials.

One control plane serves a whole test session: it starts in seconds, its logs are kept in files the
failure report shows, and every process is stopped by PID at the end. The binaries come from the project's
own `scripts/ensure-*`, which install or build them; a missing binary is an error, never a skip.
"""

from __future__ import annotations

import base64
import datetime
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.server_process import free_ports
from webhook.tls.certs import generate_ca, issue_serving_certificate, load_certificate

ISSUER = "https://kubernetes.default.svc"
"""The ServiceAccount token issuer, as on a kubeadm cluster."""
READY_LIMIT_SECONDS = 90.0
"""A bound, not a measurement: the API server is ready in about 5 s on a quiet machine."""
STOP_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Pki:
    """Files the API server, etcd clients and the tests read: one CA signs the server and the admin."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        """The RSA key that signs ServiceAccount tokens (private; the API server derives the public part)."""
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"


def make_pki(directory: Path) -> Pki:
    """The CA and the API server's certificate come from the product's own `webhook.tls.certs`; only the
    admin's client certificate (group system:masters, clientAuth) is made here."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    validity = datetime.timedelta(days=2)
    ca = generate_ca(validity=validity)
    server = issue_serving_certificate(
        ca=ca,
        dns_names=("localhost", "kubernetes.default.svc"),
        ip_addresses=("127.0.0.1",),
        validity=validity,
    )
    pki.ca.write_bytes(ca.cert)
    pki.server_cert.write_bytes(server.cert)
    _write_private(pki.server_key, server.key)

    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    admin_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    admin = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "test-admin"),
                ]
            )
        )
        .issuer_name(load_certificate(ca.cert).subject)
        .public_key(admin_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki.admin_cert.write_bytes(admin.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.admin_key, _pem(admin_key))

    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(pki.service_account_key, _pem(service_account_key))
    pki.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, pem: bytes) -> None:
    path.write_bytes(pem)
    path.chmod(0o600)


@dataclass
class Process:
    """A child process whose output goes to a log file the failure report can show."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self, *, last_lines: int = 60) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-last_lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start_process(*, name: str, command: Sequence[str], log: Path) -> Process:
    with log.open("ab") as output:
        popen = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Process(name=name, popen=popen, log=log)


@dataclass
class ControlPlane:
    """etcd and kube-apiserver, and how to reach the API server as the cluster's administrator."""

    kube_apiserver: str
    etcd: str
    directory: Path
    pki: Pki
    etcd_port: int
    etcd_peer_port: int
    port: int
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def admin_client(self, *, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=timeout)

    def start(self) -> None:
        self.start_etcd()
        self.start_apiserver()

    def start_etcd(self) -> None:
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        self.processes["etcd"] = start_process(
            name="etcd",
            command=[
                self.etcd,
                "--name", "test",
                "--data-dir", str(self.directory / "etcd-data"),
                "--listen-client-urls", self.etcd_url,
                "--advertise-client-urls", self.etcd_url,
                "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"test={peer}",
                "--log-level", "warn",
            ],
            log=self.directory / "etcd.log",
        )  # fmt: skip
        self._wait("etcd", lambda: httpx.get(f"{self.etcd_url}/health", timeout=2).status_code == 200)

    def start_apiserver(self) -> None:
        self.processes["kube-apiserver"] = start_process(
            name="kube-apiserver",
            command=[
                self.kube_apiserver,
                "--etcd-servers", self.etcd_url,
                "--bind-address", "127.0.0.1",
                "--advertise-address", "127.0.0.1",
                "--secure-port", str(self.port),
                "--insecure-port", "0",
                "--tls-cert-file", str(self.pki.server_cert),
                "--tls-private-key-file", str(self.pki.server_key),
                "--client-ca-file", str(self.pki.ca),
                "--authorization-mode", "RBAC",
                "--service-account-issuer", ISSUER,
                "--service-account-key-file", str(self.pki.service_account_public_key),
                "--service-account-signing-key-file", str(self.pki.service_account_key),
                "--api-audiences", ISSUER,
                "--service-cluster-ip-range", "10.96.0.0/24",
                "--endpoint-reconciler-type", "none",
                "--feature-gates", "BoundServiceAccountTokenVolume=true",
                "--cert-dir", str(self.directory / "apiserver-certs"),
            ],
            log=self.directory / "kube-apiserver.log",
        )  # fmt: skip
        self._wait("kube-apiserver", self._apiserver_ready)

    def crash_apiserver(self) -> None:
        """SIGKILL: a graceful stop would wait up to a minute for the webhook's open watch to end."""
        process = self.processes.pop("kube-apiserver")
        process.popen.kill()
        process.popen.wait()

    def write_and_compact_etcd(self) -> int:
        """Write a key no one reads and compact etcd's history up to it, as other clients' writes and etcd's
        periodic compaction do while an API server is down: a watch that resumes from an older
        resourceVersion then gets 410 Gone. Returns the revision compacted to."""
        written = httpx.post(
            f"{self.etcd_url}/v3/kv/put",
            json={"key": base64.b64encode(b"/tests/compaction-marker").decode(), "value": "AA=="},
            timeout=10,
        )
        written.raise_for_status()
        revision = int(written.json()["header"]["revision"])
        compacted = httpx.post(
            f"{self.etcd_url}/v3/kv/compaction", json={"revision": revision, "physical": True}, timeout=30
        )
        compacted.raise_for_status()
        return revision

    def stop(self) -> None:
        for name in ("kube-apiserver", "etcd"):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop()

    def logs(self) -> dict[str, str]:
        return {name: process.output() for name, process in self.processes.items()}

    def write_kubeconfig(self, path: Path, *, token: str | None = None) -> Path:
        """A kubeconfig for the admin certificate, or for a bearer token (a ServiceAccount's)."""
        user = (
            f"    token: {token}\n"
            if token
            else f"    client-certificate: {self.pki.admin_cert}\n    client-key: {self.pki.admin_key}\n"
        )
        ca = base64.b64encode(self.pki.ca.read_bytes()).decode()
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: test\n  cluster:\n    server: {self.url}\n    certificate-authority-data: {ca}\n"
            f"users:\n- name: test\n  user:\n{user}"
            "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
            "current-context: test\n"
        )
        return path

    def _apiserver_ready(self) -> bool:
        with self.admin_client(timeout=2) as client:
            return client.get("/readyz").status_code == 200

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_LIMIT_SECONDS
        process = self.processes[name]
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.popen.returncode}:\n{process.output()}")
            try:
                if ready():
                    return
            except (httpx.TransportError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready within {READY_LIMIT_SECONDS}s:\n{process.output()}")
            time.sleep(0.2)


def start_control_plane(*, kube_apiserver: str, etcd: str, directory: Path) -> ControlPlane:
    etcd_port, etcd_peer_port, port = free_ports(3)
    plane = ControlPlane(
        kube_apiserver=kube_apiserver,
        etcd=etcd,
        directory=directory,
        pki=make_pki(directory / "pki"),
        etcd_port=etcd_port,
        etcd_peer_port=etcd_peer_port,
        port=port,
    )
    try:
        plane.start()
    except BaseException:
        plane.stop()
        raise
    plane.write_kubeconfig(plane.kubeconfig)
    return plane
