"""`pod-identity-webhook certs generate`: once as a real process, the rest through the same `main`."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from webhook.cli import main
from webhook.tls.certs import not_after

DNS_NAME_RULE = "dot-separated labels of letters, digits and inner dashes, each at most 63 long"


def generate(executable: list[str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*executable, "certs", "generate", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory, webhook_executable: list[str]) -> Path:
    directory = tmp_path_factory.mktemp("certs") / "tls"
    result = generate(
        webhook_executable, "--out-dir", str(directory), "--dns", "localhost", "--dns", "webhook.ns.svc",
        "--ip", "127.0.0.1", "--validity-days", "30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        str(directory / name) for name in ("ca.crt", "ca.key", "tls.key", "tls.crt")
    ]
    return directory


@pytest.mark.parametrize(
    ("name", "mode"), [("ca.crt", 0o644), ("tls.crt", 0o644), ("ca.key", 0o600), ("tls.key", 0o600)]
)
def test_files_are_written_with_private_keys_readable_only_by_their_owner(
    out_dir: Path, name: str, mode: int
) -> None:
    assert stat.S_IMODE((out_dir / name).stat().st_mode) == mode


@pytest.mark.parametrize(
    "name",
    [
        x509.DNSName("localhost"),
        x509.DNSName("webhook.ns.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ],
)
def test_written_certificate_verifies_against_the_written_ca(
    out_dir: Path, name: x509.verification.Subject
) -> None:
    store = Store([x509.load_pem_x509_certificate((out_dir / "ca.crt").read_bytes())])
    verifier = PolicyBuilder().store(store).build_server_verifier(name)
    verifier.verify(x509.load_pem_x509_certificate((out_dir / "tls.crt").read_bytes()), [])


def test_validity_days_sets_the_serving_certificate_lifetime(out_dir: Path) -> None:
    certificate = x509.load_pem_x509_certificate((out_dir / "tls.crt").read_bytes())
    lifetime = not_after((out_dir / "tls.crt").read_bytes()) - certificate.not_valid_before_utc
    assert lifetime.days == 30


def test_running_again_replaces_every_file(tmp_path: Path) -> None:
    assert main(["certs", "generate", "--out-dir", str(tmp_path), "--ip", "127.0.0.1"]) == 0
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert main(["certs", "generate", "--out-dir", str(tmp_path), "--ip", "127.0.0.1"]) == 0
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert sorted(after) == sorted(before) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    assert all(after[name] != before[name] for name in before)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ([], "certs generate needs at least one --dns NAME or --ip ADDR"),
        (["--ip", "localhost"], "not an IP address: 'localhost'"),
        *(
            ([f"--dns={name}"], f"not a DNS name: {name!r} ({DNS_NAME_RULE})")
            for name in (
                "bad name",
                "x..y",
                "-webhook.ns.svc",
                "webhook-.ns",
                "a" * 64 + ".svc",
                "webhook.ns.",
            )
        ),
    ],
)
def test_unusable_arguments_fail_with_one_line_and_no_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], problem: str
) -> None:
    assert main(["certs", "generate", "--out-dir", str(tmp_path / "out"), *arguments]) == 1
    assert capsys.readouterr().err.splitlines() == [f"pod-identity-webhook: error: {problem}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name", ["webhook", "webhook.ns.svc", "*.ns.svc", "x1.a-b.example", "a" * 63 + ".svc"]
)
def test_dns_names_tls_clients_can_match_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["certs", "generate", "--out-dir", str(tmp_path), "--dns", name]) == 0
    certificate = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [name]


@pytest.mark.parametrize("flag", ["--validity-days", "--ca-validity-days"])
def test_a_lifetime_past_a_hundred_years_is_refused_by_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", "generate", "--out-dir", str(tmp_path), "--dns", "webhook", flag, "99999999"])

    assert exit_info.value.code == 2
    assert "expected at most 36500 days" in capsys.readouterr().err


def test_a_serving_certificate_asked_to_outlive_its_ca_ends_with_it_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--dns", "webhook", "--validity-days", "30", "--ca-validity-days", "3"]

    assert main(["certs", "generate", "--out-dir", str(tmp_path), *arguments]) == 0

    assert not_after((tmp_path / "tls.crt").read_bytes()) == not_after((tmp_path / "ca.crt").read_bytes())
    assert "the serving certificate ends with the CA, after 3 days" in capsys.readouterr().err
