"""The `pod-identity-webhook` command: one console script, one module per subcommand.

The same commands but `serve` are also the kubectl plugin `kubectl pod-identity` (console script
`kubectl-pod_identity`, found by kubectl on PATH), where a kubectl user looks for troubleshooting tools.

Only the module of the subcommand being run is imported: `serve` starts faster and smaller without the
offline tools' dependencies, and they never pay for the server's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from webhook import __version__
from webhook.cli.options import FlagParser
from webhook.cli.reference_compat import reference_arguments
from webhook.errors import WebhookError

SUBCOMMANDS = {
    "serve": "webhook.cli.serve",
    "inject": "webhook.cli.inject",
    "certs": "webhook.cli.certs",
    "oidc": "webhook.cli.oidc",
    "trust-policy": "webhook.cli.trust_policy",
    "explain": "webhook.cli.explain",
    "audit": "webhook.cli.audit",
}


PROG = "pod-identity-webhook"
KUBECTL_PLUGIN = "kubectl pod-identity"
PLUGIN_SUBCOMMANDS = tuple(name for name in SUBCOMMANDS if name != "serve")
"""The plugin runs where kubectl does, on an operator's machine: every tool, but never the server."""


def build_parser(
    *, only: str | None = None, prog: str = PROG, commands: Sequence[str] = tuple(SUBCOMMANDS)
) -> argparse.ArgumentParser:
    """The parser of every subcommand in `commands`, or of `only` that one."""
    parser = FlagParser(
        prog=prog,
        description="Kubernetes admission webhook that gives pods AWS IAM roles through their ServiceAccounts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in commands:
        if only in (None, name):
            importlib.import_module(SUBCOMMANDS[name]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; a WebhookError becomes one line on stderr and exit status 1, never a traceback.

    Flags with no subcommand are the reference webhook's command line: a manifest that gives only `args:`
    to the reference's image, whose entrypoint took flags alone, runs unchanged on this one.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version"):
        arguments = reference_arguments(arguments)
    return _run(arguments, prog=PROG, commands=tuple(SUBCOMMANDS))


def kubectl_plugin_main(argv: Sequence[str] | None = None) -> int:
    """`kubectl pod-identity COMMAND ...`: kubectl runs `kubectl-pod_identity` with the words after its own."""
    return _run(
        list(sys.argv[1:] if argv is None else argv), prog=KUBECTL_PLUGIN, commands=PLUGIN_SUBCOMMANDS
    )


def _run(arguments: list[str], *, prog: str, commands: Sequence[str]) -> int:
    command = arguments[0] if arguments and arguments[0] in commands else None
    try:
        args = build_parser(only=command, prog=prog, commands=commands).parse_args(arguments)
        status: int = args.run(args)
    except WebhookError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop without a word, as a tool killed by SIGPIPE does. Output
        # still buffered would fail again at exit, so it goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return status


def reference_main(argv: Sequence[str] | None = None) -> int:
    """`/webhook` in the image (console script `pod-identity-webhook-compat`): the reference's command line."""
    return main(reference_arguments(list(sys.argv[1:] if argv is None else argv)))
