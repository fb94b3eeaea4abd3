"""`oidc discovery` and `oidc thumbprint`: publish a self-hosted cluster's token issuer for IAM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from webhook.cli.options import add_flag, positive_seconds
from webhook.cluster.kube_client import api_client
from webhook.cluster.kube_json import KubeJson
from webhook.errors import ConfigurationError
from webhook.tools.oidc_discovery import (
    build_documents,
    jwks_from_keys,
    load_public_keys,
    read_cluster_issuer_and_keys,
)
from webhook.tools.oidc_issuer import parse_issuer
from webhook.tools.oidc_thumbprint import ServedChain, issuer_thumbprint

DEFAULT_THUMBPRINT_TIMEOUT = 10.0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "oidc", help="publish the cluster's ServiceAccount token issuer as an OIDC provider IAM can trust"
    )
    commands = parser.add_subparsers(dest="oidc_command", required=True, metavar="COMMAND")
    _register_discovery(commands)
    _register_thumbprint(commands)


def _register_discovery(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "discovery",
        help="write .well-known/openid-configuration and keys.json for a static HTTPS host",
        description="Write the OIDC discovery document and the JWKS into a directory laid out like the "
        "issuer URL, ready to upload to any static HTTPS host (an S3 bucket, a web server).",
    )
    parser.add_argument(
        "--issuer",
        help="the issuer URL, exactly as the API server's --service-account-issuer "
        "(with --from-cluster: default the cluster's)",
    )
    parser.add_argument("--jwks-uri", help="where keys.json will be served (default: <issuer>/keys.json)")
    parser.add_argument(
        "--key",
        dest="keys",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a PEM or DER public key, private key or certificate of a signing key "
        "(repeatable: give old and new keys during a rotation)",
    )
    parser.add_argument(
        "--from-cluster",
        action="store_true",
        help="read the signing keys from the API server's /openid/v1/jwks",
    )
    add_flag(
        parser,
        "--kubeconfig",
        help="kubeconfig for --from-cluster (default: in-cluster, then ~/.kube/config)",
    )
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="the directory to write the documents into"
    )
    parser.set_defaults(run=run_discovery)


def _register_thumbprint(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "thumbprint",
        help="print the SHA-1 thumbprint IAM asks for when creating the OIDC provider",
        description="Connect to the issuer's host over TLS and print the lower-case hex SHA-1 fingerprint of "
        "the top intermediate CA certificate of the served chain (the root when only leaf and root are "
        "served).",
    )
    parser.add_argument("issuer", metavar="ISSUER_URL", help="the issuer URL (https://host[:port][/path])")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_THUMBPRINT_TIMEOUT,
        help=f"seconds to wait for the connection and handshake (default: {DEFAULT_THUMBPRINT_TIMEOUT:g})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the served chain on stderr")
    parser.set_defaults(run=run_thumbprint)


def run_discovery(args: argparse.Namespace) -> int:
    if bool(args.keys) == bool(args.from_cluster):
        raise ConfigurationError("give either --key FILE (repeatable) or --from-cluster")
    if args.from_cluster:
        cluster = KubeJson(api_client(kubeconfig=args.kubeconfig, offline="--issuer URL --key FILE"))
        announced, keys = read_cluster_issuer_and_keys(cluster)
        issuer = parse_issuer(args.issuer or announced)
        if issuer.url == announced.rstrip("/") != announced:
            _warn(
                f"the cluster signs tokens with issuer {announced!r}, which ends in '/'; the documents name "
                f"{issuer.url!r}, and IAM compares the two character for character: set the API server's "
                f"first --service-account-issuer to {issuer.url!r}"
            )
        elif issuer.url != announced:
            _warn(
                f"the cluster signs tokens with issuer {announced!r}, not {issuer.url!r}; IAM rejects tokens "
                f"whose iss differs from the provider URL: make {issuer.url!r} the API server's first "
                "--service-account-issuer (only the first is written into tokens)"
            )
    else:
        if not args.issuer:
            raise ConfigurationError("--issuer is required with --key")
        issuer = parse_issuer(args.issuer)
        keys = jwks_from_keys((key, str(path)) for path in args.keys for key in load_public_keys(path))
    documents = build_documents(issuer=issuer, jwks_uri=args.jwks_uri, keys=keys)
    for path, url in documents.write(args.out_dir):
        print(f"wrote {path}, to be served at {url}")
    print("Serve both over HTTPS, publicly readable, with Content-Type: application/json.")
    return 0


def run_thumbprint(args: argparse.Namespace) -> int:
    issuer = parse_issuer(args.issuer)
    chain = issuer_thumbprint(issuer, timeout=args.timeout)
    if args.verbose:
        print(f"certificate chain served by {issuer.host}:{issuer.port}, in the order sent:", file=sys.stderr)
        print(_describe(chain), file=sys.stderr)
    if chain.leaf_only:
        _warn(
            f"{issuer.host} sent only its own certificate, not the chain to {chain.certificates[0].issuer!r}: "
            "this is the thumbprint of that certificate, which changes each time it is renewed; have the "
            "server send its intermediate certificates and run this again"
        )
    print(chain.thumbprint)
    return 0


def _describe(chain: ServedChain) -> str:
    lines = []
    for index, certificate in enumerate(chain.certificates):
        role = "leaf" if index == 0 else "root" if certificate.self_signed else "intermediate"
        marker = "  <- thumbprint" if index == chain.selected else ""
        lines += [
            f"[{index}] {role}{marker}",
            f"    subject:   {certificate.subject}",
            f"    issuer:    {certificate.issuer}",
            f"    not after: {certificate.not_after:%Y-%m-%d %H:%M:%S} UTC",
            f"    sha1:      {certificate.sha1}",
            f"    sha256:    {certificate.sha256}",
        ]
    return "\n".join(lines)


def _warn(message: str) -> None:
    print(f"pod-identity-webhook: warning: {message}", file=sys.stderr)
