"""The serving certificate: one long-lived `ssl.SSLContext` whose certificate can change under it.

uvicorn binds its listening socket to a single SSLContext for the life of the process. Loading a new
certificate into that same context is not enough: OpenSSL keeps one certificate per key type, so an
ECDSA certificate loaded over an RSA one (or the reverse) leaves the old one served to many clients, and
a failed key load leaves the context with a certificate and no key. So the context uvicorn holds carries
no certificate at all; its SNI callback, which OpenSSL runs on every handshake (with or without SNI),
hands each new connection the current inner context. Swapping the inner context is one attribute write:
new handshakes get the new certificate and open connections keep the one they were made with.

Usage with uvicorn::

    serving = ServingTLS(min_version="1.2")
    serving.load_pem(cert=..., key=...)
    config = uvicorn.Config(app, ssl_context_factory=lambda _config, _default: serving.context)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from webhook import metrics
from webhook.errors import CertificateError, ConfigurationError
from webhook.tls.certs import generate_bundle, key_matches, load_certificate, not_after, utc_now
from webhook.tls.cipher_suites import CipherSuites, certificate_key_type

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
"""Without --tls-cipher-suites: forward secrecy and AEAD only, as Go's crypto/tls (the API server's client)
prefers; TLS 1.3 suites are all of that kind already."""
ALPN_PROTOCOLS = ["http/1.1"]
RELOAD_SOURCE = "tls"
PLACEHOLDER_NAME = "no-certificate-yet.pod-identity-webhook.invalid"
PLACEHOLDER_VALIDITY = timedelta(days=1)
DEFAULT_POLL_INTERVAL = 1.0

logger = logging.getLogger("webhook.tls")


class ServingTLS:
    """The SSLContext the server listens with, and the certificate it currently presents."""

    def __init__(self, *, min_version: str = "1.2", cipher_suites: CipherSuites | None = None) -> None:
        if min_version not in TLS_VERSIONS:
            raise ConfigurationError(
                f"--tls-min-version must be one of {', '.join(TLS_VERSIONS)}, not {min_version!r}"
            )
        self._cipher_suites = cipher_suites
        tls12_disabled = cipher_suites is not None and cipher_suites.tls12_disabled
        self._ciphers = (
            TLS12_CIPHERS if cipher_suites is None or tls12_disabled else cipher_suites.cipher_string()
        )
        self._min_version = TLS_VERSIONS["1.3" if tls12_disabled else min_version]
        self.context = self._new_context()
        self.context.sni_callback = self._choose_certificate
        self._active: ssl.SSLContext | None = None
        self._placeholder_context: ssl.SSLContext | None = None
        self._certificate: bytes | None = None

    @property
    def loaded(self) -> bool:
        return self._active is not None

    @property
    def certificate(self) -> bytes | None:
        """The PEM certificate (chain) new connections are given, once one is loaded."""
        return self._certificate

    def load_pem(self, *, cert: bytes, key: bytes) -> datetime:
        """Serve this pair to new connections and return its expiry; a pair that does not fit leaves the
        current certificate in place and raises CertificateError."""
        if not key_matches(cert=cert, key=key):
            raise CertificateError("the private key does not belong to the certificate")
        self._check_key_type(cert)
        expiry = not_after(cert)
        context = self._context_serving(cert=cert, key=key)
        if expiry <= utc_now():
            logger.warning(
                "the serving certificate expired at %s; clients will reject it", expiry.isoformat()
            )
        self._active = context
        self._certificate = cert
        metrics.CERTIFICATE_EXPIRY.set(expiry.timestamp())
        return expiry

    def _check_key_type(self, cert: bytes) -> None:
        """TLS 1.2 suites each need one key type: a certificate none of the chosen suites can use would fail
        every TLS 1.2 handshake, so it is refused with the reason rather than served."""
        suites = self._cipher_suites
        if suites is None or suites.tls12_disabled:
            return
        key_type = certificate_key_type(load_certificate(cert))
        if key_type not in suites.key_types:
            wanted = " or ".join(sorted(kind.value for kind in suites.key_types))
            raise CertificateError(
                f"the certificate has an {key_type.value} key, but every suite of --tls-cipher-suites needs an "
                f"{wanted} key: no TLS 1.2 client could connect; add suites for {key_type.value} "
                f"(TLS_ECDHE_{key_type.value}_WITH_AES_128_GCM_SHA256) or use an {wanted} certificate"
            )

    def _context_serving(self, *, cert: bytes, key: bytes) -> ssl.SSLContext:
        context = self._new_context()
        with tempfile.TemporaryDirectory(prefix="pod-identity-webhook-tls-") as directory:
            cert_path = _write_private(Path(directory, "tls.crt"), cert)
            key_path = _write_private(Path(directory, "tls.key"), key)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as error:
                raise CertificateError(f"OpenSSL rejected the certificate: {error.reason or error}") from None
        return context

    def _new_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self._min_version
        context.set_ciphers(self._ciphers)
        context.set_alpn_protocols(ALPN_PROTOCOLS)
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
        return context

    def _choose_certificate(
        self, connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext
    ) -> int | None:
        connection.context = self._active or self._placeholder()
        return None

    def _placeholder(self) -> ssl.SSLContext:
        """Until a certificate is loaded (self mode may wait for the API server), handshakes get a throwaway
        self-signed one: the kubelet's liveness probe, which checks no certificate, then reaches /livez and
        does not restart a healthy process, while every client that checks the caBundle refuses it and
        /readyz says why the webhook is not ready."""
        if self._placeholder_context is None:
            pair = generate_bundle(dns_names=[PLACEHOLDER_NAME], ca_validity=PLACEHOLDER_VALIDITY,
                                   cert_validity=PLACEHOLDER_VALIDITY).serving  # fmt: skip
            self._placeholder_context = self._context_serving(cert=pair.cert, key=pair.key)
        return self._placeholder_context


class TLSFileReloader:
    """Keeps ServingTLS in step with `--tls-cert`/`--tls-key` on disk.

    Polling (rather than inotify) sees every way the files change: in-place writes, cert-manager's
    renewals and the atomic `..data` symlink swap of a Kubernetes Secret volume, which changes the
    inode the paths resolve to without touching the paths themselves.
    """

    def __init__(
        self, *, serving: ServingTLS, cert_path: Path, key_path: Path, interval: float = DEFAULT_POLL_INTERVAL
    ) -> None:
        self._serving = serving
        self._cert_path = cert_path
        self._key_path = key_path
        self._interval = interval
        self._stamp: tuple[tuple[int, ...], ...] | None = None
        self._loaded: tuple[bytes, bytes] | None = None
        self._last_problem: str | None = None

    def load(self) -> None:
        """The first load at start: files that cannot be served stop the server with a clear message."""
        try:
            stamp = self._read_stamp()
            pair = self._read_pair()
            self._serving.load_pem(cert=pair[0], key=pair[1])
        except (OSError, CertificateError) as error:
            raise CertificateError(
                f"cannot serve TLS from --tls-cert {self._cert_path} and --tls-key {self._key_path}: {error}"
            ) from None
        self._stamp, self._loaded = stamp, pair

    def check(self) -> bool:
        """Reload when either file changed; True when a new certificate is now being served."""
        try:
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return False
            pair = self._read_pair()
        except OSError as error:
            self._report_problem(f"cannot read the certificate files: {error}")
            return False
        if pair == self._loaded:
            self._stamp = stamp
            return False
        try:
            expiry = self._serving.load_pem(cert=pair[0], key=pair[1])
        except CertificateError as error:
            self._report_problem(
                f"keeping the current certificate, the new files are not usable yet: {error}"
            )
            return False
        self._stamp, self._loaded, self._last_problem = stamp, pair, None
        subject = load_certificate(pair[0]).subject.rfc4514_string()
        logger.info("reloaded the serving certificate %s (expires %s)", subject, expiry.isoformat())
        metrics.CONFIG_RELOADS.labels(source=RELOAD_SOURCE, result="success").inc()
        return True

    async def run(self) -> None:
        """Poll until cancelled; file reads and parsing happen off the event loop."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                logger.exception("unexpected failure while checking the certificate files; will retry")

    def _read_stamp(self) -> tuple[tuple[int, ...], ...]:
        """Identity and version of both files, following symlinks."""
        stats = (os.stat(self._cert_path), os.stat(self._key_path))
        return tuple((stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_size) for stat in stats)

    def _read_pair(self) -> tuple[bytes, bytes]:
        return self._cert_path.read_bytes(), self._key_path.read_bytes()

    def _report_problem(self, problem: str) -> None:
        """Log and count each distinct problem once, though it is retried on every poll."""
        if problem == self._last_problem:
            return
        self._last_problem = problem
        logger.warning("%s", problem)
        metrics.CONFIG_RELOADS.labels(source=RELOAD_SOURCE, result="error").inc()


class TLSRuntime:
    """What the server needs from TLS: the context to listen with, readiness, and a way to stop the
    background task that keeps the certificate current."""

    def __init__(self, *, serving: ServingTLS, task: asyncio.Task[None]) -> None:
        self._serving = serving
        self._task = task

    @property
    def context(self) -> ssl.SSLContext:
        return self._serving.context

    @property
    def loaded(self) -> bool:
        return self._serving.loaded

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _write_private(path: Path, content: bytes) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    return path
