"""The `pod-identity-webhook` command: one console script, one module per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from webhook import __version__
from webhook.cli import certs, explain, inject, oidc, serve, trust_policy
from webhook.errors import WebhookError

SUBCOMMANDS = (serve, inject, certs, oidc, trust_policy, explain)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pod-identity-webhook",
        description="Kubernetes admission webhook that gives pods AWS IAM roles through their ServiceAccounts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; a WebhookError becomes one line on stderr and exit status 1, never a traceback."""
    try:
        args = build_parser().parse_args(argv)
        status: int = args.run(args)
    except WebhookError as error:
        print(f"pod-identity-webhook: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status
