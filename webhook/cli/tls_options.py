"""The TLS flags of `serve`, and `start_tls`, which turns them into a running certificate source.

`--tls-mode files` serves `--tls-cert`/`--tls-key` and re-reads them when they change; `--tls-mode self`
keeps a CA and serving certificate in a Secret and the MutatingWebhookConfiguration's caBundle.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from webhook.cli.options import add_flag, positive_seconds, validity_days
from webhook.cluster import kube_client
from webhook.errors import ConfigurationError
from webhook.tls.certificate_rotation import RotationPolicy
from webhook.tls.certs import DEFAULT_CA_VALIDITY, DEFAULT_CERT_VALIDITY, check_dns_name
from webhook.tls.serving import TLS_VERSIONS, ServingTLS, TLSFileReloader, TLSRuntime

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from webhook.tls.self_managed import SelfManagedSettings

TLS_MODES = ("files", "self")
DEFAULT_SECRET_NAME = "pod-identity-webhook"
DEFAULT_WEBHOOK_CONFIG_NAME = "pod-identity-webhook"
DEFAULT_SERVICE_NAME = "pod-identity-webhook"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_CHECK_INTERVAL = 30.0


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tls")
    add_flag(group, "--tls-mode", default="files", choices=TLS_MODES,
             help="files: serve --tls-cert/--tls-key, re-read when they change; "
                  "self: keep a CA and certificate in --tls-secret and the webhook's caBundle")  # fmt: skip
    add_flag(group, "--tls-cert", metavar="PATH", help="PEM serving certificate, chain allowed (files mode)")
    add_flag(group, "--tls-key", metavar="PATH", help="PEM private key of --tls-cert (files mode)")
    add_flag(group, "--tls-min-version", default="1.2", choices=tuple(TLS_VERSIONS),
             help="oldest TLS version accepted")  # fmt: skip
    add_flag(group, "--tls-secret", metavar="NAME", default=DEFAULT_SECRET_NAME,
             help="Secret in --namespace that holds the self-managed CA and certificate")  # fmt: skip
    add_flag(group, "--webhook-config-name", metavar="NAME", default=DEFAULT_WEBHOOK_CONFIG_NAME,
             help="MutatingWebhookConfiguration whose caBundle is kept current (self mode)")  # fmt: skip
    add_flag(group, "--service-name", metavar="NAME", default=DEFAULT_SERVICE_NAME,
             help="Service in front of the webhook, named in the certificate (self mode)")  # fmt: skip
    add_flag(group, "--cluster-domain", metavar="DOMAIN", default=DEFAULT_CLUSTER_DOMAIN,
             help="cluster DNS domain, for the certificate's fully qualified name (self mode)")  # fmt: skip
    add_flag(group, "--tls-cert-validity-days", metavar="DAYS", type=validity_days,
             default=DEFAULT_CERT_VALIDITY.days,
             help="lifetime of the self-managed serving certificate; renewed in its last third")  # fmt: skip
    add_flag(group, "--tls-ca-validity-days", metavar="DAYS", type=validity_days,
             default=DEFAULT_CA_VALIDITY.days,
             help="lifetime of the self-managed CA; rotated in its last third")  # fmt: skip
    add_flag(group, "--tls-check-interval", metavar="SECONDS", type=positive_seconds,
             default=DEFAULT_CHECK_INTERVAL,
             help="seconds between checks of the Secret and the caBundle (self mode)")  # fmt: skip


async def start_tls(
    args: argparse.Namespace, *, namespace: str, api_client: ApiClient | None = None
) -> TLSRuntime:
    """Start the certificate source the flags ask for. Files mode loads the certificate before returning
    (bad files raise CertificateError); self mode returns at once and loads it in the background, so
    readiness (`TLSRuntime.loaded`) stays false until the certificate is in place. Self mode talks to the
    cluster through `api_client` when given (share the server's), else one built from --kubeconfig."""
    serving = ServingTLS(min_version=args.tls_min_version)
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


def self_managed_settings_from(args: argparse.Namespace, *, namespace: str) -> SelfManagedSettings:
    from webhook.tls.self_managed import SelfManagedSettings, service_dns_names  # noqa: PLC0415 - the kubernetes client costs ~30 MB and ~1 s to import; file mode never needs it

    policy = RotationPolicy(
        ca_validity=timedelta(days=args.tls_ca_validity_days),
        cert_validity=timedelta(days=args.tls_cert_validity_days),
    )
    dns_names = service_dns_names(
        service=args.service_name, namespace=namespace, cluster_domain=args.cluster_domain
    )
    for name in dns_names:
        check_dns_name(name)  # at start, in one line, not at each renewal
    return SelfManagedSettings(
        namespace=namespace,
        dns_names=dns_names,
        secret_name=args.tls_secret,
        webhook_config_name=args.webhook_config_name,
        policy=policy,
        check_interval=args.tls_check_interval,
    )
