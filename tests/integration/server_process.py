"""The real `pod-identity-webhook serve` process, started the way an operator starts it, and a client that
talks to it the way kube-apiserver does: HTTPS, trusting only the webhook's CA, checking the host name."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_imds import is_loopback_url

METADATA_ENDPOINT_VARIABLE = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
STARTUP_LIMIT_SECONDS = 60.0
"""A bound, not a measurement: two busy cores may start a Python process slowly."""
EXIT_LIMIT_SECONDS = 60.0


@dataclass(frozen=True)
class Certificates:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def key(self) -> Path:
        return self.directory / "tls.key"


def generate_certificates(*, executable: Sequence[str], directory: Path, cwd: Path) -> Certificates:
    """Certificates for localhost and 127.0.0.1 from the product's own `certs generate`."""
    subprocess.run(
        [
            *executable,
            "certs",
            "generate",
            "--out-dir",
            str(directory),
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
        ],
        cwd=cwd,
        env=clean_environment(),
        check=True,
        capture_output=True,
        timeout=EXIT_LIMIT_SECONDS,
    )
    return Certificates(directory)


def clean_environment() -> dict[str, str]:
    """The test runner's environment without settings that would change the server's flags or cluster."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("POD_IDENTITY_WEBHOOK_") and name not in ("KUBECONFIG", "POD_NAMESPACE")
    }


def refuse_real_instance_metadata(arguments: Sequence[str], *, environment: Mapping[str, str]) -> None:
    """`--compose-role-arn` reads the EC2 instance metadata at start: a test server may only do so from a
    fake on loopback, never from 169.254.169.254, whatever machine the tests run on."""
    composing = any(
        argument == "--compose-role-arn" or argument.startswith("--compose-role-arn=")
        for argument in arguments
    )
    endpoint = environment.get(METADATA_ENDPOINT_VARIABLE, "")
    if composing and not is_loopback_url(endpoint):
        raise RuntimeError(
            f"refusing to start serve --compose-role-arn with {METADATA_ENDPOINT_VARIABLE}={endpoint!r}: "
            "point it at a loopback fake (tests/fake_imds.py)"
        )


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports nobody listens on (held open together so the kernel cannot repeat one)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    certificates: Certificates | None
    log: Path

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def tls_context(self) -> ssl.SSLContext:
        """What the API server does: trust only the caBundle (the webhook's CA) and verify the name. A server
        that makes its own certificate (`--tls-mode self`) is only asked whether it is up."""
        if self.certificates is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=str(self.certificates.ca))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.tls_context(), timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM, as the kubelet sends it, and the exit code once the process is gone."""
        return self.stop(signal.SIGTERM)

    def stop(self, sig: signal.Signals) -> int:
        """Send `sig` if the process still runs; the exit code once it is gone."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=EXIT_LIMIT_SECONDS)

    def wait_for_output(self, text: str) -> None:
        """Until the server's log says `text`: how a test knows a signal has been acted on."""
        deadline = time.monotonic() + EXIT_LIMIT_SECONDS
        while text not in self.output():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"the server never logged {text!r}:\n{self.output()}")
            time.sleep(0.05)


class Launch(Protocol):
    """The `launch` fixture: start another server with extra flags; it is stopped after the session."""

    def __call__(self, *extra_args: str) -> RunningServer: ...


def start_server(
    *,
    executable: Sequence[str],
    cwd: Path,
    certificates: Certificates | None,
    service_account_file: Path | None,
    log: Path,
    extra_args: Sequence[str] = (),
    command: Sequence[str] = ("serve",),
    port: int | None = None,
    environment: Mapping[str, str] | None = None,
) -> RunningServer:
    """Start `serve` on free loopback ports (or `port`, to stand in for a server that stopped) and return
    once `/readyz` answers 200. Without a ServiceAccount file, `extra_args` name the cluster
    (`--kubeconfig`); without certificates, they choose the TLS mode. `command=()` starts it as a manifest
    written for the reference webhook does: flags alone. `environment` is added to the process's;
    `--compose-role-arn` needs it to point the instance metadata at a loopback fake."""
    env = {**clean_environment(), **(environment or {})}
    refuse_real_instance_metadata(extra_args, environment=env)
    free_port, metrics_port = free_ports(2)
    port = port or free_port
    source = ["--service-account-file", str(service_account_file)] if service_account_file else []
    tls = ["--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key)] if certificates else []
    command = [
        *executable,
        *command,
        *tls,
        *source,
        "--port", str(port),
        "--metrics-port", str(metrics_port),
        "--bind-address", "127.0.0.1",
        *extra_args,
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
    server = RunningServer(
        process=process, port=port, metrics_port=metrics_port, certificates=certificates, log=log
    )
    try:
        _wait_until_ready(server)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    return server


def _wait_until_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    with server.client() as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"serve exited with {server.process.returncode}:\n{server.output()}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve was not ready within {STARTUP_LIMIT_SECONDS}s:\n{server.output()}")
            time.sleep(0.1)


METRIC_PREFIX = "pod_identity_webhook_"
Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: RunningServer) -> Samples:
    """Every sample /metrics shows now, by name and labels."""
    response = httpx.get(server.metrics_url, timeout=30)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((METRIC_PREFIX + name, frozenset(labels.items())), 0.0)
