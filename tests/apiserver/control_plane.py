"""A real etcd and kube-apiserver v1.20.2 on loopback, with their own PKI, token issuer and admin credentials.

One control plane serves a whole test session: it starts in seconds, its logs are kept in files the
failure report shows, and every process is stopped by PID at the end. The binaries come from the project's
own `scripts/ensure-*`, which install or build them; a missing binary is an error, never a skip.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.server_process import free_ports
from webhook.tls.certs import generate_ca

ISSUER = "https://kubernetes.default.svc"
"""The ServiceAccount token issuer, as on a kubeadm cluster."""
READY_LIMIT_SECONDS = 90.0
"""A bound, not a measurement: the API server is ready in about 5 s on a quiet machine."""
STOP_LIMIT_SECONDS = 30.0
CERTIFICATE_VALIDITY = datetime.timedelta(days=2)
"""Longer than any test session; the CA comes from the product's own `webhook.tls.certs`."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pki:
    """Files the API server, etcd clients and the tests read: one CA signs the server and the admin (and,
    for a node, the kubelet's certificates and the API server's client certificate to the kubelet)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

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
    def kubelet_client_cert(self) -> Path:
        """The API server's identity when it calls a kubelet (logs, exec)."""
        return self.directory / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.directory / "apiserver-kubelet-client.key"

    @property
    def service_account_key(self) -> Path:
        """The RSA key that signs ServiceAccount tokens (private; the API server derives the public part)."""
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"

    def issue(
        self,
        name: str,
        *,
        common_name: str,
        organization: str | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
    ) -> tuple[Path, Path]:
        """A certificate and key signed by the CA, written as NAME.crt and NAME.key: a client certificate,
        or a serving one (`server`) for the names and addresses given."""
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca = x509.load_pem_x509_certificate(self.ca.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        builder = _builder(subject=x509.Name(attributes), issuer=ca.subject, public_key=key.public_key())
        alternative_names: list[x509.GeneralName] = [x509.DNSName(each) for each in dns_names]
        alternative_names += [x509.IPAddress(ipaddress.ip_address(each)) for each in ip_addresses]
        if alternative_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        certificate = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(
            ca_key, hashes.SHA256()
        )
        paths = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        _write_certificate(paths[0], certificate)
        _write_key(paths[1], key)
        return paths


def make_pki(directory: Path) -> Pki:
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = generate_ca(validity=CERTIFICATE_VALIDITY)
    pki.ca.write_bytes(ca.cert)
    pki.ca_key.write_bytes(ca.key)
    pki.ca_key.chmod(0o600)
    pki.issue(
        "apiserver",
        common_name="kube-apiserver",
        dns_names=("localhost", "kubernetes.default.svc"),
        ip_addresses=("127.0.0.1",),
        server=True,
    )
    pki.issue("admin", common_name="test-admin", organization="system:masters")
    pki.issue(
        "apiserver-kubelet-client", common_name="kube-apiserver-kubelet-client", organization="system:masters"
    )

    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki.service_account_key, service_account_key)
    pki.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki


def _builder(*, subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_VALIDITY)
    )


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
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


def wait_until_ready(
    process: Process, ready: Callable[[], bool], *, limit: float = READY_LIMIT_SECONDS
) -> None:
    """Poll `ready` (connection errors count as not yet) until it holds; fail with the log's tail as soon as
    the process exits, or after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{process.output()}")
        try:
            if ready():
                return
        except (httpx.TransportError, ssl.SSLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} was not ready within {limit}s:\n{process.output()}")
        time.sleep(0.2)


def start_process(
    *, name: str, command: Sequence[str], log: Path, environment: Mapping[str, str] | None = None
) -> Process:
    """`environment` adds to the test process's own."""
    with log.open("ab") as output:
        popen = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **environment} if environment else None,
        )
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
    serves_nodes: bool = False
    """Whether kubelets register: Node authorization for them, and calls to them (logs) over loopback."""
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
                "--authorization-mode", "Node,RBAC" if self.serves_nodes else "RBAC",
                "--service-account-issuer", ISSUER,
                "--service-account-key-file", str(self.pki.service_account_public_key),
                "--service-account-signing-key-file", str(self.pki.service_account_key),
                "--api-audiences", ISSUER,
                "--service-cluster-ip-range", "10.96.0.0/24",
                "--endpoint-reconciler-type", "none",
                "--feature-gates", "BoundServiceAccountTokenVolume=true",
                "--cert-dir", str(self.directory / "apiserver-certs"),
                *(self._kubelet_flags() if self.serves_nodes else ()),
            ],
            log=self.directory / "kube-apiserver.log",
        )  # fmt: skip
        self._wait("kube-apiserver", self._apiserver_ready)

    def _kubelet_flags(self) -> list[str]:
        """Reach kubelets by their host name, which /etc/hosts maps to loopback, and verify them against the
        CA: never the machine's other addresses."""
        return [
            "--kubelet-preferred-address-types", "Hostname",
            "--kubelet-client-certificate", str(self.pki.kubelet_client_cert),
            "--kubelet-client-key", str(self.pki.kubelet_client_key),
            "--kubelet-certificate-authority", str(self.pki.ca),
        ]  # fmt: skip

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

    def write_kubeconfig(
        self, path: Path, *, token: str | None = None, certificate: tuple[Path, Path] | None = None
    ) -> Path:
        """A kubeconfig for the admin certificate, for a bearer token (a ServiceAccount's), or for another
        client `certificate` and key (a kubelet's)."""
        cert, key = certificate or (self.pki.admin_cert, self.pki.admin_key)
        user = (
            f"    token: {token}\n" if token else f"    client-certificate: {cert}\n    client-key: {key}\n"
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
        wait_until_ready(self.processes[name], ready)


def start_control_plane(
    *, kube_apiserver: str, etcd: str, directory: Path, serves_nodes: bool = False
) -> ControlPlane:
    etcd_port, etcd_peer_port, port = free_ports(3)
    plane = ControlPlane(
        kube_apiserver=kube_apiserver,
        etcd=etcd,
        directory=directory,
        pki=make_pki(directory / "pki"),
        etcd_port=etcd_port,
        etcd_peer_port=etcd_peer_port,
        port=port,
        serves_nodes=serves_nodes,
    )
    try:
        plane.start()
    except BaseException:
        plane.stop()
        raise
    plane.write_kubeconfig(plane.kubeconfig)
    return plane
