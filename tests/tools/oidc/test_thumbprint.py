"""`oidc thumbprint`: the SHA-1 IAM asks for, read from a real TLS server's served chain."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.tools.oidc.oidc_artefacts import Pki, TlsServer
from webhook.cli import main

StartServer = Callable[..., TlsServer]


def sha1(certificate: x509.Certificate) -> str:
    return hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (["leaf", "lower_intermediate", "intermediate"], "intermediate"),
        (["leaf", "lower_intermediate", "intermediate", "root"], "intermediate"),
        (["leaf", "intermediate", "lower_intermediate"], "intermediate"),
        (["leaf", "lower_intermediate"], "lower_intermediate"),
        (["root_signed_leaf", "root"], "root"),
        (["self_signed_leaf"], "self_signed_leaf"),
    ],
    ids=[
        "two intermediates: the top one",
        "root sent too: still the top intermediate",
        "sent out of order: followed by issuer, not position",
        "only the issuing CA",
        "leaf and root only: the root",
        "lone self-signed certificate: itself",
    ],
)
def test_thumbprint_is_the_top_intermediate_of_the_served_chain(
    served: list[str], expected: str, pki: Pki, tls_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server([getattr(pki, name) for name in served], pki.leaf_key)

    assert main(["oidc", "thumbprint", f"{server.url}/cluster-1"]) == 0

    assert capsys.readouterr().out == sha1(getattr(pki, expected)) + "\n"


def test_a_lone_certificate_issued_by_a_ca_is_its_own_thumbprint_with_a_warning(
    pki: Pki, tls_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server([pki.leaf], pki.leaf_key)

    assert main(["oidc", "thumbprint", server.url]) == 0

    captured = capsys.readouterr()
    assert captured.out == sha1(pki.leaf) + "\n"
    assert "sent only its own certificate" in captured.err
    assert pki.lower_intermediate.subject.rfc4514_string() in captured.err


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(
    timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["oidc", "thumbprint", "--timeout", timeout, "https://issuer.example.com"])

    assert exit_info.value.code == 2
    assert "--timeout" in capsys.readouterr().err


def test_verbose_shows_the_chain_on_stderr_and_keeps_stdout_the_thumbprint(
    pki: Pki, tls_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server([pki.leaf, pki.lower_intermediate, pki.intermediate], pki.leaf_key)

    assert main(["oidc", "thumbprint", "--verbose", server.url]) == 0

    captured = capsys.readouterr()
    assert captured.out == sha1(pki.intermediate) + "\n"
    assert "[0] leaf" in captured.err
    assert "[2] intermediate  <- thumbprint" in captured.err
    for certificate in (pki.leaf, pki.lower_intermediate, pki.intermediate):
        assert sha1(certificate) in captured.err
        assert certificate.subject.rfc4514_string() in captured.err
    assert f"not after: {pki.leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC" in captured.err


@pytest.fixture
def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.fixture
def not_tls_port() -> Iterator[int]:
    """A server on 127.0.0.1 that answers a TLS ClientHello with plain HTTP, as a misconfigured port would."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def answer() -> None:
        listener.settimeout(0.05)
        while not stopped.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stopped.set()
    thread.join()
    listener.close()


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("http://127.0.0.1:{refused}", "must start with https://"),
        ("https://127.0.0.1:{refused}/?cluster=1", "has a query string"),
        ("https://127.0.0.1:{refused}", "cannot reach 127.0.0.1:{refused}"),
        ("https://127.0.0.1:{plain}", "TLS handshake with 127.0.0.1:{plain} failed"),
        ("https://no-such-host.invalid", "cannot resolve issuer host 'no-such-host.invalid'"),
        ("https://a..b/cluster-1", "not a DNS name: 'a..b'"),
        ("https://" + "a" * 64 + ".example.com", "each at most 63 long"),
        ("https://issuer.example.com:/cluster-1", "has a ':' but no port after it"),
        ("https://issuer.example.com/cluster 1", "contains spaces or control characters"),
    ],
    ids=[
        "http",
        "query string",
        "unreachable",
        "not TLS",
        "unknown host",
        "empty label",
        "label too long",
        "colon without port",
        "space in path",
    ],
)
def test_thumbprint_failure_is_one_line_and_non_zero(
    issuer: str,
    message: str,
    refused_port: int,
    not_tls_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ports = {"refused": refused_port, "plain": not_tls_port}

    status = main(["oidc", "thumbprint", "--timeout", "5", issuer.format(**ports)])

    captured = capsys.readouterr()
    assert (status, captured.out, captured.err.count("\n")) == (1, "", 1)
    assert message.format(**ports) in captured.err


def test_thumbprint_error_through_the_console_script_has_no_traceback(
    webhook_executable: list[str], refused_port: int
) -> None:
    result = subprocess.run(
        [*webhook_executable, "oidc", "thumbprint", f"https://127.0.0.1:{refused_port}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("pod-identity-webhook: error: cannot reach 127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
