"""`start_tls`: the TLS flags of `serve` turned into a running certificate source.

`--tls-mode files` serves `--tls-cert`/`--tls-key` and re-reads them when they change; `--tls-mode self`
keeps a CA and serving certificate in a Secret and the MutatingWebhookConfiguration's caBundle.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from webhook.cluster import kube_client
from webhook.errors import CertificateError, ConfigurationError
from webhook.tls.certificate_rotation import RotationPolicy
from webhook.tls.certs import check_dns_name
from webhook.tls.cipher_suites import SERVED_MIN_VERSIONS, parse_cipher_suites, parse_min_version
from webhook.tls.serving import ServingTLS, TLSFileReloader, TLSRuntime

logger = logging.getLogger("webhook.tls")

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from webhook.tls.self_managed import SelfManagedSettings


async def start_tls(
    args: argparse.Namespace, *, namespace: str, api_client: ApiClient | None = None
) -> TLSRuntime:
    """Start the certificate source the flags ask for. Files mode loads the certificate before returning
    (bad files raise CertificateError); self mode returns at once and loads it in the background, so
    readiness (`TLSRuntime.loaded`) stays false until the certificate is in place. Self mode talks to the
    cluster through `api_client` when given (share the server's), else one built from --kubeconfig."""
    serving = serving_tls_from(args)
    if args.tls_mode == "self":
        from webhook.tls.self_managed import SelfManagedTLS  # noqa: PLC0415 - the kubernetes client costs ~30 MB and ~1 s to import; file mode never needs it

        manager = SelfManagedTLS(
            api_client=api_client or kube_client.api_client(kubeconfig=args.kubeconfig, server=args.kube_api),
            serving=serving,
            settings=self_managed_settings_from(args, namespace=namespace),
        )
        return TLSRuntime(serving=serving, task=asyncio.create_task(manager.run()))
    if not args.tls_cert or not args.tls_key:
        raise ConfigurationError("--tls-mode files needs both --tls-cert and --tls-key")
    reloader = TLSFileReloader(serving=serving, cert_path=Path(args.tls_cert), key_path=Path(args.tls_key))
    reloader.load()
    return TLSRuntime(serving=serving, task=asyncio.create_task(reloader.run()))


def check_extra_dns_name(name: str) -> None:
    """ConfigurationError naming the flag unless `name` can go into the certificate as a DNS name. An IP
    address is refused rather than stored as a DNS name: clients dialling an IP match only IP entries, so
    it would be in the certificate and still fail every handshake."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ConfigurationError(
            f"--tls-extra-dns-names: {name!r} is an IP address; the self-managed certificate holds DNS "
            "names only, so register the webhook by a name that resolves to it (for example localhost)"
        )
    try:
        check_dns_name(name)
    except CertificateError as error:
        raise ConfigurationError(f"--tls-extra-dns-names: {error}") from None


def check_tls_flags(args: argparse.Namespace) -> None:
    """Refuse a --tls-min-version or --tls-cipher-suites this server cannot honour before anything starts."""
    parse_min_version(args.tls_min_version)
    parse_cipher_suites(args.tls_cipher_suites or "")


def serving_tls_from(args: argparse.Namespace) -> ServingTLS:
    """The serving context `--tls-min-version` and `--tls-cipher-suites` describe, spelt as the reference
    spells them; ConfigurationError for a version or suite this server cannot honour."""
    asked = parse_min_version(args.tls_min_version)
    served = SERVED_MIN_VERSIONS[asked]
    if served != asked:
        logger.warning(
            "--tls-min-version=%s: TLS %s is not offered here; the oldest version served is TLS %s",
            args.tls_min_version, asked, served,
        )  # fmt: skip
    suites = parse_cipher_suites(args.tls_cipher_suites or "")
    if suites is not None and suites.tls12_disabled and served == "1.2":
        logger.warning(
            "--tls-cipher-suites names only TLS 1.3 suites (%s), which leaves TLS 1.2 no suite: serving TLS 1.3 only",
            ", ".join(suites.names),
        )  # fmt: skip
    return ServingTLS(min_version=served, cipher_suites=suites)


def self_managed_settings_from(args: argparse.Namespace, *, namespace: str) -> SelfManagedSettings:
    from webhook.tls.self_managed import SelfManagedSettings, service_dns_names  # noqa: PLC0415 - the kubernetes client costs ~30 MB and ~1 s to import; file mode never needs it

    policy = RotationPolicy(
        ca_validity=timedelta(days=args.tls_ca_validity_days),
        cert_validity=timedelta(days=args.tls_cert_validity_days),
    )
    service_names = service_dns_names(
        service=args.service_name, namespace=namespace, cluster_domain=args.cluster_domain
    )
    for name in service_names:
        check_dns_name(name)  # at start, in one line, not at each renewal
    extra_names = tuple(args.tls_extra_dns_names)
    for name in extra_names:
        check_extra_dns_name(name)
    return SelfManagedSettings(
        namespace=namespace,
        dns_names=tuple(dict.fromkeys((*service_names, *extra_names))),
        secret_name=args.tls_secret,
        webhook_config_name=args.webhook_config_name,
        # `serve` has the flag; a parser of the TLS flags alone (their tests) does not.
        validating_webhook_config_name=(
            args.webhook_config_name if getattr(args, "serviceaccount_warnings", False) else ""
        ),
        policy=policy,
        check_interval=args.tls_check_interval,
    )
