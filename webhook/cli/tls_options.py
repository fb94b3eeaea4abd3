"""The TLS flags of `serve`; `webhook.tls.startup.start_tls` turns them into a running certificate source."""

from __future__ import annotations

import argparse

from webhook.cli.options import add_flag, positive_seconds, validity_days
from webhook.tls.certs import DEFAULT_CA_VALIDITY, DEFAULT_CERT_VALIDITY

TLS_MODES = ("files", "self")
DEFAULT_SECRET_NAME = "pod-identity-webhook"
DEFAULT_WEBHOOK_CONFIG_NAME = "pod-identity-webhook"
DEFAULT_SERVICE_NAME = "pod-identity-webhook"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_CHECK_INTERVAL = 30.0


def dns_name_list(text: str) -> tuple[str, ...]:
    """Comma-separated names in their order, each once; `start_tls` checks them so a bad one stops the
    start with the flag named, not a renewal months later."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tls")
    add_flag(group, "--tls-mode", default="files", choices=TLS_MODES,
             help="files: serve --tls-cert/--tls-key, re-read when they change; "
                  "self: keep a CA and certificate in --tls-secret and the webhook's caBundle")  # fmt: skip
    add_flag(group, "--tls-cert", metavar="PATH", help="PEM serving certificate, chain allowed (files mode)")
    add_flag(group, "--tls-key", metavar="PATH", help="PEM private key of --tls-cert (files mode)")
    add_flag(group, "--tls-min-version", default="1.2", metavar="VERSION",
             help="oldest TLS version accepted: 1.2 or 1.3 (VersionTLS12, VersionTLS13); 1.0 and 1.1 "
                  "(VersionTLS10, VersionTLS11) are accepted and serve from 1.2")  # fmt: skip
    add_flag(group, "--tls-cipher-suites", default="", metavar="NAMES",
             help="comma-separated Go/IANA names of the TLS 1.2 suites to offer, e.g. "
                  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (default: ECDHE with AES-GCM or ChaCha20); "
                  "TLS 1.3 names are accepted and change nothing")  # fmt: skip
    add_flag(group, "--tls-secret", metavar="NAME", default=DEFAULT_SECRET_NAME,
             help="Secret in --namespace that holds the self-managed CA and certificate")  # fmt: skip
    add_flag(group, "--webhook-config-name", metavar="NAME", default=DEFAULT_WEBHOOK_CONFIG_NAME,
             help="MutatingWebhookConfiguration whose caBundle is kept current (self mode)")  # fmt: skip
    add_flag(group, "--service-name", metavar="NAME", default=DEFAULT_SERVICE_NAME,
             help="Service in front of the webhook, named in the certificate (self mode)")  # fmt: skip
    add_flag(group, "--cluster-domain", metavar="DOMAIN", default=DEFAULT_CLUSTER_DOMAIN,
             help="cluster DNS domain, for the certificate's fully qualified name (self mode)")  # fmt: skip
    add_flag(group, "--tls-extra-dns-names", metavar="NAME,...", type=dns_name_list, default="",
             help="more DNS names for the self-managed certificate, for an API server that dials a URL "
                  "such as https://localhost:PORT/mutate (self mode)")  # fmt: skip
    add_flag(group, "--tls-cert-validity-days", metavar="DAYS", type=validity_days,
             default=DEFAULT_CERT_VALIDITY.days,
             help="lifetime of the self-managed serving certificate; renewed in its last third")  # fmt: skip
    add_flag(group, "--tls-ca-validity-days", metavar="DAYS", type=validity_days,
             default=DEFAULT_CA_VALIDITY.days,
             help="lifetime of the self-managed CA; rotated in its last third")  # fmt: skip
    add_flag(group, "--tls-check-interval", metavar="SECONDS", type=positive_seconds,
             default=DEFAULT_CHECK_INTERVAL,
             help="seconds between checks of the Secret and the caBundle (self mode)")  # fmt: skip
