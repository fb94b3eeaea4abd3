"""`--tls-cert` and `--tls-key` re-read from disk: in-place writes, symlink swaps, half-written files."""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.tls.tls_support import (
    SecretVolume,
    certificate_of,
    get_ok,
    handshake,
    https_connection,
    served_certificate,
    uvicorn_server,
)
from webhook import metrics
from webhook.errors import CertificateError, ConfigurationError
from webhook.tls.certs import CertificateBundle
from webhook.tls.serving import ServingTLS, TLSFileReloader
from webhook.tls.startup import start_tls


def write_pair(directory: Path, pair: CertificateBundle) -> tuple[Path, Path]:
    (directory / "tls.crt").write_bytes(pair.cert)
    (directory / "tls.key").write_bytes(pair.key)
    return directory / "tls.crt", directory / "tls.key"


def reload_errors() -> float:
    value = metrics.REGISTRY.get_sample_value(
        "pod_identity_webhook_config_reloads_total", {"source": "tls", "result": "error"}
    )
    return value or 0.0


@pytest.fixture
def volume(tmp_path: Path, bundle: CertificateBundle) -> SecretVolume:
    mounted = SecretVolume(tmp_path)
    mounted.publish(bundle)
    return mounted


def loaded_reloader(cert_path: Path, key_path: Path) -> tuple[ServingTLS, TLSFileReloader]:
    serving = ServingTLS()
    reloader = TLSFileReloader(serving=serving, cert_path=cert_path, key_path=key_path)
    reloader.load()
    return serving, reloader


def reloader_for(volume: SecretVolume) -> tuple[ServingTLS, TLSFileReloader]:
    return loaded_reloader(volume.cert_path, volume.key_path)


def test_symlink_swap_serves_the_new_certificate_and_keeps_open_connections(
    volume: SecretVolume, bundle: CertificateBundle, renewed: CertificateBundle
) -> None:
    serving, reloader = reloader_for(volume)
    with (
        uvicorn_server(serving.context) as port,
        closing(https_connection(port, bundle.ca_cert)) as kept_alive,
        closing(https_connection(port, bundle.ca_cert)) as fresh,
    ):
        get_ok(kept_alive)
        volume.publish(renewed)

        assert reloader.check()

        get_ok(fresh)
        assert served_certificate(fresh) == certificate_of(renewed)
        get_ok(kept_alive)
        assert served_certificate(kept_alive) == certificate_of(bundle)


def test_files_rewritten_in_place_are_reloaded(
    tmp_path: Path, bundle: CertificateBundle, renewed: CertificateBundle
) -> None:
    cert_path, key_path = write_pair(tmp_path, bundle)
    serving, reloader = loaded_reloader(cert_path, key_path)

    write_pair(tmp_path, renewed)

    assert reloader.check()
    assert serving.certificate == renewed.cert


def test_unchanged_files_are_not_reloaded(volume: SecretVolume, bundle: CertificateBundle) -> None:
    serving, reloader = reloader_for(volume)
    assert not reloader.check()
    volume.publish(bundle)
    assert not reloader.check()
    assert serving.certificate == bundle.cert


def test_half_written_pair_keeps_the_old_certificate_until_the_key_arrives(
    tmp_path: Path, bundle: CertificateBundle, renewed: CertificateBundle
) -> None:
    cert_path, key_path = write_pair(tmp_path, bundle)
    serving, reloader = loaded_reloader(cert_path, key_path)
    errors_before = reload_errors()

    with uvicorn_server(serving.context) as port:
        cert_path.write_bytes(renewed.cert)
        assert not reloader.check()
        assert not reloader.check()
        assert handshake(port, bundle.ca_cert) == certificate_of(bundle)
        assert reload_errors() == errors_before + 1

        key_path.write_bytes(renewed.key)
        assert reloader.check()
        assert handshake(port, bundle.ca_cert) == certificate_of(renewed)


def test_files_that_disappear_keep_the_old_certificate(
    tmp_path: Path, bundle: CertificateBundle, renewed: CertificateBundle
) -> None:
    cert_path, key_path = write_pair(tmp_path, bundle)
    serving, reloader = loaded_reloader(cert_path, key_path)

    key_path.unlink()
    assert not reloader.check()
    assert serving.certificate == bundle.cert

    write_pair(tmp_path, renewed)
    assert reloader.check()


@pytest.mark.parametrize(
    ("cert", "key", "problem"),
    [
        (None, b"", "No such file"),
        (b"not a certificate", None, "not a PEM certificate"),
        (None, b"not a key", "not an unencrypted PEM private key"),
    ],
)
def test_unusable_files_at_start_are_a_clear_certificate_error(
    tmp_path: Path, bundle: CertificateBundle, cert: bytes | None, key: bytes | None, problem: str
) -> None:
    cert_path, key_path = write_pair(tmp_path, bundle)
    if cert is not None:
        cert_path.write_bytes(cert)
    if key == b"":
        key_path.unlink()
    elif key is not None:
        key_path.write_bytes(key)
    reloader = TLSFileReloader(serving=ServingTLS(), cert_path=cert_path, key_path=key_path)
    with pytest.raises(CertificateError, match=problem) as raised:
        reloader.load()
    assert f"--tls-cert {cert_path}" in str(raised.value)


def tls_arguments(**overrides: object) -> argparse.Namespace:
    arguments: dict[str, object] = {
        "tls_mode": "files",
        "tls_cert": None,
        "tls_key": None,
        "tls_min_version": "1.2",
        "tls_cipher_suites": "",
    }
    return argparse.Namespace(**(arguments | overrides))


def test_start_tls_in_files_mode_keeps_watching_until_stopped(
    volume: SecretVolume,
    bundle: CertificateBundle,
    renewed: CertificateBundle,
    renewed_again: CertificateBundle,
) -> None:
    async def scenario() -> None:
        runtime = await start_tls(
            tls_arguments(tls_cert=str(volume.cert_path), tls_key=str(volume.key_path)), namespace="default"
        )
        assert runtime.loaded
        with uvicorn_server(runtime.context) as port:
            for pair in (renewed, renewed_again):
                volume.publish(pair)
                await until_served(port, pair)
        await runtime.stop()

    asyncio.run(scenario())


async def until_served(port: int, pair: CertificateBundle) -> None:
    """Poll (the reloader looks about once a second) until new handshakes get `pair`'s certificate."""
    deadline = time.monotonic() + 30
    while await asyncio.to_thread(handshake, port, pair.ca_cert) != certificate_of(pair):
        assert time.monotonic() < deadline, "the new certificate was not served within 30 s"
        await asyncio.sleep(0.1)


def test_start_tls_in_files_mode_needs_both_files() -> None:
    with pytest.raises(ConfigurationError, match="--tls-cert and --tls-key"):
        asyncio.run(start_tls(tls_arguments(tls_cert="/some/tls.crt"), namespace="default"))
