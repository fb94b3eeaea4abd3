"""The real `serve` process keeps answering while its certificate is replaced twice the way the kubelet
replaces a mounted Secret: no request fails, open keep-alive connections carry on, new connections get
the new certificate."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.server_process import Certificates, RunningServer, start_server
from tests.tls.conftest import renew
from tests.tls.tls_support import SecretVolume, client_context
from webhook.tls.certs import CertificateBundle

SWAP_LIMIT_SECONDS = 30.0
"""A bound for the server to notice a swap (it polls every second), not a measurement."""


@dataclass
class Traffic:
    """What the client threads saw, shared with the test thread."""

    answered: int = 0
    failures: list[str] = field(default_factory=list)
    fresh_certificates: list[x509.Certificate] = field(default_factory=list)
    keep_alive_sockets: set[object] = field(default_factory=set)
    """The socket objects themselves: holding them keeps a replaced one from sharing an id with its successor."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def record(self, *, failure: str | None = None, certificate: x509.Certificate | None = None) -> None:
        with self.lock:
            self.answered += failure is None
            if failure is not None:
                self.failures.append(failure)
            if certificate is not None:
                self.fresh_certificates.append(certificate)

    def wait_for_more_answers(self, count: int) -> None:
        target = self.answered + count
        self._wait_for(lambda: self.answered >= target, f"{count} more answers")

    def wait_for_fresh_connections_to_get(self, certificate: x509.Certificate) -> None:
        self._wait_for(lambda: self.fresh_certificates[-1:] == [certificate], "the new certificate")

    def _wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + SWAP_LIMIT_SECONDS
        while not condition():
            assert time.monotonic() < deadline, f"no {what} within {SWAP_LIMIT_SECONDS} s: {self.failures}"
            time.sleep(0.05)


@pytest.fixture
def volume(tmp_path: Path, bundle: CertificateBundle) -> SecretVolume:
    mounted = SecretVolume(tmp_path / "tls")
    mounted.root.mkdir()
    mounted.publish(bundle)
    (mounted.root / "ca.crt").write_bytes(bundle.ca_cert)
    return mounted


@pytest.fixture
def server(
    volume: SecretVolume, webhook_executable: list[str], repo_root: Path, tmp_path: Path
) -> Iterator[RunningServer]:
    running = start_server(
        executable=webhook_executable,
        cwd=repo_root,
        certificates=Certificates(volume.root),
        service_account_file=repo_root / "examples" / "serviceaccounts.yaml",
        log=tmp_path / "serve.log",
    )
    yield running
    running.terminate()


def review(repo_root: Path) -> bytes:
    return (repo_root / "examples" / "admission-review.json").read_bytes()


def send(connection: http.client.HTTPSConnection, body: bytes) -> str | None:
    """POST one AdmissionReview; the problem if the answer is not an allowed review for our uid."""
    connection.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        return f"HTTP {response.status}: {payload[:200]!r}"
    answer = json.loads(payload)["response"]
    if not answer["allowed"] or answer["uid"] != json.loads(body)["request"]["uid"]:
        return f"unexpected answer {answer}"
    return None


def keep_alive_client(port: int, ca_cert: bytes, body: bytes, traffic: Traffic) -> None:
    """One connection for the whole test, as the API server reuses its connections."""
    with closing(
        http.client.HTTPSConnection("localhost", port, context=client_context(ca_cert), timeout=30)
    ) as kept:
        while not traffic.stop.is_set():
            try:
                traffic.record(failure=send(kept, body))
                traffic.keep_alive_sockets.add(kept.sock)
            except (OSError, http.client.HTTPException) as error:
                traffic.record(failure=f"keep-alive connection: {error!r}")
                return


def fresh_connection_client(port: int, ca_cert: bytes, body: bytes, traffic: Traffic) -> None:
    """A new connection (and TLS handshake) for every request, noting the certificate each one got."""
    while not traffic.stop.is_set():
        connection = http.client.HTTPSConnection(
            "localhost", port, context=client_context(ca_cert), timeout=30
        )
        try:
            problem = send(connection, body)
            assert isinstance(connection.sock, ssl.SSLSocket)
            der = connection.sock.getpeercert(binary_form=True)
            assert der is not None
            traffic.record(failure=problem, certificate=x509.load_der_x509_certificate(der))
        except (OSError, http.client.HTTPException) as error:
            traffic.record(failure=f"new connection: {error!r}")
        finally:
            connection.close()


def test_certificate_swapped_twice_under_load_fails_no_request(
    server: RunningServer, volume: SecretVolume, bundle: CertificateBundle, repo_root: Path
) -> None:
    traffic = Traffic()
    body = review(repo_root)
    clients = [
        threading.Thread(target=client, args=(server.port, bundle.ca_cert, body, traffic), daemon=True)
        for client in (keep_alive_client, fresh_connection_client)
    ]
    for thread in clients:
        thread.start()
    try:
        for _swap in range(2):
            traffic.wait_for_more_answers(20)
            renewed = renew(bundle)
            volume.publish(renewed)
            traffic.wait_for_fresh_connections_to_get(x509.load_pem_x509_certificate(renewed.cert))
        traffic.wait_for_more_answers(20)
    finally:
        traffic.stop.set()
        for thread in clients:
            thread.join(timeout=60)

    assert traffic.failures == []
    assert not any(thread.is_alive() for thread in clients)
    assert len(set(traffic.fresh_certificates)) == 3, "the original and both renewals"
    assert len(traffic.keep_alive_sockets) == 1, "the keep-alive connection was never replaced"
