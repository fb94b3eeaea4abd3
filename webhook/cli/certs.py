"""`pod-identity-webhook certs generate`: a CA and a serving certificate for running without cert-manager,
made by the same code the self-managed TLS mode uses."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from webhook.cli.options import validity_days
from webhook.errors import ConfigurationError
from webhook.tls.certs import DEFAULT_CA_VALIDITY, DEFAULT_CERT_VALIDITY, KeyAlgorithm, generate_bundle

CERTIFICATE_MODE = 0o644
KEY_MODE = 0o600


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("certs", help="make certificates for the webhook")
    actions = parser.add_subparsers(dest="certs_action", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate",
        help="write a new CA (ca.crt, ca.key) and a serving certificate it signed (tls.crt, tls.key)",
        description="Write ca.crt, ca.key, tls.crt and tls.key into --out-dir (atomic replace).",
    )
    generate.add_argument(
        "--out-dir", type=Path, required=True, metavar="DIR", help="directory to write the files into"
    )
    generate.add_argument(
        "--dns", action="append", default=[], metavar="NAME", help="a DNS name (repeatable)"
    )
    generate.add_argument(
        "--ip", action="append", default=[], metavar="ADDR", help="an IP address (repeatable)"
    )
    generate.add_argument(
        "--validity-days",
        type=validity_days,
        metavar="DAYS",
        default=DEFAULT_CERT_VALIDITY.days,
        help="lifetime of the serving certificate (default: %(default)s)",
    )
    generate.add_argument(
        "--ca-validity-days",
        type=validity_days,
        metavar="DAYS",
        default=DEFAULT_CA_VALIDITY.days,
        help="lifetime of the CA (default: %(default)s)",
    )
    generate.add_argument(
        "--key-algorithm",
        type=KeyAlgorithm,
        choices=list(KeyAlgorithm),
        default=KeyAlgorithm.ECDSA_P256,
        help="key type of both certificates (default: %(default)s)",
    )
    generate.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    if not args.dns and not args.ip:
        raise ConfigurationError("certs generate needs at least one --dns NAME or --ip ADDR")
    bundle = generate_bundle(
        dns_names=args.dns,
        ip_addresses=args.ip,
        ca_validity=timedelta(days=args.ca_validity_days),
        cert_validity=timedelta(days=args.validity_days),
        algorithm=args.key_algorithm,
    )
    if args.validity_days > args.ca_validity_days:
        print(
            f"warning: the serving certificate ends with the CA, after {args.ca_validity_days} days "
            f"(--validity-days asked for {args.validity_days})",
            file=sys.stderr,
        )
    out_dir: Path = args.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files = (
            (out_dir / "ca.crt", bundle.ca_cert, CERTIFICATE_MODE),
            (out_dir / "ca.key", bundle.ca_key, KEY_MODE),
            (out_dir / "tls.key", bundle.key, KEY_MODE),
            (out_dir / "tls.crt", bundle.cert, CERTIFICATE_MODE),
        )
        for path, content, mode in files:
            _replace_file(path, content, mode=mode)
    except OSError as error:
        raise ConfigurationError(f"cannot write certificates into {out_dir}: {error}") from None
    for path, _content, _mode in files:
        print(path)
    return 0


def _replace_file(path: Path, content: bytes, *, mode: int) -> None:
    """Write next to the target and rename over it, so a server watching the file never reads half of it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
