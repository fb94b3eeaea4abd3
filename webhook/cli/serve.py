"""`pod-identity-webhook serve`: the admission webhook server."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from webhook import __version__
from webhook.cli.options import (
    add_bool_flag,
    add_flag,
    add_mutation_options,
    mutation_settings_from,
    non_negative_seconds,
    port_number,
    positive_int,
    positive_seconds,
)
from webhook.cli.reference_compat import add_reference_options, check_reference_options
from webhook.cli.tls_options import add_tls_options
from webhook.engine.annotation_values import parse_name_list
from webhook.server.assembly import run_event_loop, serve
from webhook.server.http_app import DEFAULT_MAX_REQUEST_BYTES
from webhook.server.listening import ALL_ADDRESSES
from webhook.server.logging_setup import LOG_FORMATS, LOG_LEVELS, configure_logging
from webhook.server.metrics_port import DEBUG_CACHE_PATH
from webhook.tls.startup import check_tls_flags

log = logging.getLogger("webhook.serve")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the admission webhook server",
        description="Serves POST /mutate over TLS, health endpoints on the same port and Prometheus metrics "
        "on --metrics-port. ServiceAccounts come from the cluster (in-cluster config or --kubeconfig) or, "
        "with no cluster at all, from --service-account-file.",
    )
    parser.add_argument("--version", action="version", version=f"pod-identity-webhook {__version__}")
    server = parser.add_argument_group("server")
    add_flag(
        server,
        "--port",
        type=port_number,
        default=8443,
        help="HTTPS port for /mutate and the health endpoints",
    )
    add_flag(server, "--metrics-port", type=port_number, default=9999, help="plain-HTTP port for /metrics")
    add_flag(server, "--bind-address", default=ALL_ADDRESSES,
             help="address both ports listen on; :: is every IPv6 and IPv4 address (0.0.0.0 without IPv6)")  # fmt: skip
    add_flag(server, "--max-request-bytes", type=positive_int, default=DEFAULT_MAX_REQUEST_BYTES,
             help="largest admission request accepted (HTTP 413 above)")  # fmt: skip
    add_flag(server, "--shutdown-delay", type=non_negative_seconds, default=5.0,
             help="seconds to keep accepting and answering after SIGTERM, each answer with Connection: close, "
                  "while the endpoint's removal reaches the API server (SIGINT skips it)")  # fmt: skip
    add_flag(server, "--shutdown-timeout", type=positive_int, default=25,
             help="seconds to let in-flight requests finish after the delay")  # fmt: skip
    add_bool_flag(server, "--enable-debugging-handlers",
                  help=f"on --metrics-port, GET {DEBUG_CACHE_PATH} shows the ServiceAccount cache as JSON")  # fmt: skip
    add_flag(server, "--log-format", default="json", choices=LOG_FORMATS, help="log line format")
    add_flag(server, "--log-level", default="info", choices=LOG_LEVELS, help="lowest level logged")

    cluster = parser.add_argument_group("cluster")
    add_flag(cluster, "--kubeconfig", metavar="PATH",
             help="kubeconfig to use outside a cluster (default: in-cluster config, then ~/.kube/config)")  # fmt: skip
    add_flag(cluster, "--kube-api", metavar="URL",
             help="API server URL, replacing --kubeconfig's (alone: that URL, no credentials, as client-go does)")  # fmt: skip
    add_flag(cluster, "--namespace",
             help="the webhook's own namespace (default: $POD_NAMESPACE, then the in-cluster namespace)")  # fmt: skip
    add_flag(cluster, "--service-account-file", metavar="PATH",
             help="read ServiceAccounts from this YAML file or directory instead of the cluster")  # fmt: skip
    add_flag(cluster, "--api-fallback-timeout", type=positive_seconds, default=1.0,
             help="seconds to wait for a direct API read of a ServiceAccount missing from the cache")  # fmt: skip
    add_bool_flag(cluster, "--watch-config-map",
                  help="read role mappings from the ConfigMap pod-identity-webhook in --namespace")  # fmt: skip
    add_flag(cluster, "--watch-container-credentials-config", metavar="PATH",
             help="Pod Identity associations file, re-read when it changes")  # fmt: skip

    add_bool_flag(server, "--serviceaccount-warnings",
                  help="serve POST /validate-serviceaccount: warnings on ServiceAccount writes (register it "
                       "in a ValidatingWebhookConfiguration named --webhook-config-name)")  # fmt: skip

    missed = parser.add_argument_group("missed credentials")
    add_bool_flag(missed, "--find-missed-credentials",
                  help="find running pods that lack the credentials their ServiceAccount now gives; report each "
                       "with an Event and a log line (needs pods list and events create)")  # fmt: skip
    add_flag(missed, "--missed-credentials-interval", type=positive_seconds, default=120.0,
             help="seconds between two scans of the cluster's pods")  # fmt: skip
    add_flag(missed, "--exclude-namespaces", type=parse_name_list, default=frozenset(), metavar="NS,NS",
             help="namespaces whose pods the webhook is not registered for, so never reported")  # fmt: skip
    add_bool_flag(missed, "--repair-missed-credentials",
                  help="evict the controller-owned pods found, so they come back with credentials (needs "
                       "pods/eviction create; PodDisruptionBudgets respected); bare pods are only reported")  # fmt: skip
    add_flag(missed, "--repair-interval", type=positive_seconds, default=10.0,
             help="seconds between two evictions, at least")  # fmt: skip

    add_tls_options(parser)
    add_mutation_options(parser)
    add_reference_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(log_format=args.log_format, level=args.log_level)
    check_reference_options(args)
    check_tls_flags(args)
    run_event_loop(serve(args, settings=mutation_settings_from(args)))
    return 0
