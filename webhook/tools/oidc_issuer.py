"""The OIDC issuer URL, checked once the way IAM and the API server will read it.

IAM matches the token's `iss` claim against the provider URL character for character, and names the
provider (and the trust-policy condition keys) after the URL without its scheme. A URL that is not
HTTPS, or carries a query or fragment, can never be an IAM OIDC provider, so every `oidc` and
`trust-policy` command rejects it up front instead of producing documents that silently fail later.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhook.errors import CertificateError, ConfigurationError
from webhook.tls.certs import check_dns_name

HTTPS_PORT = 443


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerUrl:
    url: str
    """`https://host[:port][/path]`, without a trailing slash: the exact `iss` of the cluster's tokens."""
    host: str
    port: int

    @property
    def provider_id(self) -> str:
        """The URL without `https://`: IAM's name for the provider and the prefix of its condition keys."""
        return self.url.removeprefix("https://")


def parse_issuer(text: str) -> IssuerUrl:
    """Validate an issuer URL; raises ConfigurationError saying what is wrong with it."""
    raw = text.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(f"issuer {text!r} is not a valid URL: {error}") from error
    if parts.scheme != "https":
        raise ConfigurationError(
            f"issuer {text!r} must start with https://: IAM only trusts OIDC providers served over HTTPS"
        )
    if not parts.hostname:
        raise ConfigurationError(f"issuer {text!r} has no host name")
    if parts.query or raw.endswith("?"):
        raise ConfigurationError(f"issuer {text!r} has a query string; an OIDC issuer URL may not have one")
    if parts.fragment or "#" in raw:
        raise ConfigurationError(
            f"issuer {text!r} has a fragment (#...); an OIDC issuer URL may not have one"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"issuer {text!r} contains credentials; an OIDC issuer URL may not have any")
    if port is None and parts.netloc.endswith(":"):
        raise ConfigurationError(f"issuer {text!r} has a ':' but no port after it")
    if any(char.isspace() or not char.isprintable() for char in raw):
        raise ConfigurationError(f"issuer {text!r} contains spaces or control characters; encode them (%20)")
    _check_host(parts.hostname, issuer=text)
    after_scheme = raw.split("://", 1)[1].rstrip("/")
    return IssuerUrl(url=f"https://{after_scheme}", host=parts.hostname, port=port or HTTPS_PORT)


def _check_host(host: str, *, issuer: str) -> None:
    """An IP address or a DNS name: anything else can be neither served nor fetched by IAM."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            check_dns_name(host)
        except CertificateError as error:
            raise ConfigurationError(f"issuer {issuer!r}: {error}") from None
