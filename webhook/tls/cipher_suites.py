"""`--tls-cipher-suites` and `--tls-min-version` as the reference reads them (Go's crypto/tls names, through
Kubernetes' component-base), turned into what OpenSSL understands.

Go's names are the IANA ones. Each TLS 1.2 suite maps to one OpenSSL cipher and works only with a certificate
of its key type (an ECDHE_ECDSA suite needs an ECDSA key; ECDHE_RSA and plain RSA suites an RSA key), as in Go.
TLS 1.3 suites are not configurable in Go: their names are accepted and change nothing, and TLS 1.3 always
offers its three suites.
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from webhook.errors import ConfigurationError


class KeyType(enum.Enum):
    RSA = "RSA"
    ECDSA = "ECDSA"


TLS12_SUITES: dict[str, tuple[str, KeyType]] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": ("ECDHE-ECDSA-AES128-GCM-SHA256", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": ("ECDHE-ECDSA-AES256-GCM-SHA384", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": ("ECDHE-ECDSA-CHACHA20-POLY1305", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": ("ECDHE-ECDSA-CHACHA20-POLY1305", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": ("ECDHE-ECDSA-AES128-SHA", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": ("ECDHE-ECDSA-AES256-SHA", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": ("ECDHE-ECDSA-AES128-SHA256", KeyType.ECDSA),
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": ("ECDHE-ECDSA-RC4-SHA", KeyType.ECDSA),
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": ("ECDHE-RSA-AES128-GCM-SHA256", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": ("ECDHE-RSA-AES256-GCM-SHA384", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": ("ECDHE-RSA-CHACHA20-POLY1305", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": ("ECDHE-RSA-CHACHA20-POLY1305", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": ("ECDHE-RSA-AES128-SHA", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": ("ECDHE-RSA-AES256-SHA", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": ("ECDHE-RSA-AES128-SHA256", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": ("ECDHE-RSA-DES-CBC3-SHA", KeyType.RSA),
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": ("ECDHE-RSA-RC4-SHA", KeyType.RSA),
    "TLS_RSA_WITH_AES_128_GCM_SHA256": ("AES128-GCM-SHA256", KeyType.RSA),
    "TLS_RSA_WITH_AES_256_GCM_SHA384": ("AES256-GCM-SHA384", KeyType.RSA),
    "TLS_RSA_WITH_AES_128_CBC_SHA": ("AES128-SHA", KeyType.RSA),
    "TLS_RSA_WITH_AES_256_CBC_SHA": ("AES256-SHA", KeyType.RSA),
    "TLS_RSA_WITH_AES_128_CBC_SHA256": ("AES128-SHA256", KeyType.RSA),
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": ("DES-CBC3-SHA", KeyType.RSA),
    "TLS_RSA_WITH_RC4_128_SHA": ("RC4-SHA", KeyType.RSA),
}
"""Every TLS 1.0-1.2 suite Go's crypto/tls knows (secure and insecure, plus its two legacy ChaCha20 names):
the OpenSSL cipher and the key type the serving certificate needs for it."""
TLS13_SUITES = frozenset(("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"))

MIN_VERSIONS = {
    "1.0": "1.0", "VersionTLS10": "1.0",
    "1.1": "1.1", "VersionTLS11": "1.1",
    "1.2": "1.2", "VersionTLS12": "1.2",
    "1.3": "1.3", "VersionTLS13": "1.3",
}  # fmt: skip
"""`--tls-min-version`'s spellings in the reference (component-base's), by the version they mean."""
SERVED_MIN_VERSIONS = {"1.0": "1.2", "1.1": "1.2", "1.2": "1.2", "1.3": "1.3"}
"""TLS 1.0 and 1.1 are not offered here (OpenSSL 3 refuses them at its default security level, and no
supported API server needs them): asking for them as a minimum serves from 1.2."""


@dataclass(frozen=True, slots=True)
class CipherSuites:
    """The TLS 1.2 suites to offer, as OpenSSL ciphers, and the key types they serve."""

    names: tuple[str, ...]
    """As given, for messages."""
    openssl: tuple[str, ...]
    key_types: frozenset[KeyType]

    @property
    def tls12_disabled(self) -> bool:
        """Only TLS 1.3 names were given: TLS 1.2 has no suite left, so only TLS 1.3 is served (as Go ends
        up doing: a 1.2 client finds no suite in common)."""
        return not self.openssl

    def cipher_string(self) -> str:
        return ":".join(dict.fromkeys(self.openssl))


def parse_cipher_suites(text: str) -> CipherSuites | None:
    """`--tls-cipher-suites`: a comma list, spaces trimmed, empty items skipped; None when it names nothing
    (the defaults). An unknown name, or one this OpenSSL cannot offer, is a ConfigurationError naming it."""
    names = tuple(item.strip() for item in text.split(",") if item.strip())
    if not names:
        return None
    openssl: list[str] = []
    key_types: set[KeyType] = set()
    for name in names:
        if name in TLS13_SUITES:
            continue
        if name not in TLS12_SUITES:
            raise ConfigurationError(
                f"--tls-cipher-suites: unknown cipher suite {name!r}; use Go/IANA names such as "
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            )
        cipher, key_type = TLS12_SUITES[name]
        if not _offered(cipher):
            raise ConfigurationError(
                f"--tls-cipher-suites: {name} ({cipher}) is not offered by this server's TLS library "
                f"({ssl.OPENSSL_VERSION}); it is insecure, choose an ECDHE suite with AES-GCM or ChaCha20"
            )
        openssl.append(cipher)
        key_types.add(key_type)
    return CipherSuites(names=names, openssl=tuple(openssl), key_types=frozenset(key_types))


def parse_min_version(text: str) -> str:
    """`--tls-min-version`: the TLS version it means ("1.2"); a ConfigurationError for any other spelling."""
    version = MIN_VERSIONS.get(text.strip())
    if version is None:
        raise ConfigurationError(f"--tls-min-version must be one of {', '.join(MIN_VERSIONS)}, not {text!r}")
    return version


def certificate_key_type(certificate: x509.Certificate) -> KeyType:
    """Which TLS 1.2 suites can serve this certificate: RSA ones for an RSA key, ECDSA ones for the rest."""
    return KeyType.RSA if isinstance(certificate.public_key(), rsa.RSAPublicKey) else KeyType.ECDSA


def _offered(cipher: str) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(cipher)
    except ssl.SSLError:
        return False
    return any(offered["name"] == cipher for offered in context.get_ciphers())
