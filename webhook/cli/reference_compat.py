"""The command line of amazon-eks-pod-identity-webhook, so a manifest written for it runs unchanged (SPEC §5).

Its flags that exist here keep their meaning and are defined with the rest (`options`, `serve`,
`tls_options`). This module adds the others. Those without a counterpart here are accepted, named in one
warning at start and otherwise ignored; `--in-cluster=true`, which asks for a certificate from the cluster's
CertificateSigningRequest API, is refused with what to do instead. `reference_arguments` turns the
reference's command line into `serve`'s, with the reference's defaults where ours differ (the image's
`/webhook` and flags given with no subcommand go through it).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webhook.cli.options import add_bool_flag, env_name
from webhook.errors import ConfigurationError

log = logging.getLogger("webhook.cli")

REFERENCE_DEFAULTS = {
    "--port": "443",
    "--tls-cert": "/etc/webhook/certs/tls.crt",
    "--tls-key": "/etc/webhook/certs/tls.key",
}
"""The reference's defaults where ours differ: its port, and where its manifests mount the certificate."""


@dataclass(frozen=True)
class IgnoredFlag:
    """A reference flag accepted and ignored. klog's thirteen are left out of --help one by one (`shown`):
    the group's description names them once."""

    name: str
    takes_value: bool
    why: str
    shown: bool = True

    @property
    def dest(self) -> str:
        return "reference_" + self.name.replace("-", "_")


_KLOG_WHY = "logging is set with --log-level and --log-format"
_KLOG_SWITCHES = (
    "logtostderr",
    "alsologtostderr",
    "add_dir_header",
    "skip_headers",
    "skip_log_headers",
    "one_output",
)
_KLOG_VALUES = (
    "v",
    "vmodule",
    "log_dir",
    "log_file",
    "log_file_max_size",
    "stderrthreshold",
    "log_backtrace_at",
)

IGNORED_FLAGS = (
    IgnoredFlag("resync-period", takes_value=True,
                why="the ServiceAccount cache follows a watch and lists again whenever the watch expires"),
    IgnoredFlag("service-account-lookup-grace-period", takes_value=True,
                why="a ServiceAccount missing from the cache is read from the API (--api-fallback-timeout)"),
    *(IgnoredFlag(name, takes_value=False, why=_KLOG_WHY, shown=False) for name in _KLOG_SWITCHES),
    *(IgnoredFlag(name, takes_value=True, why=_KLOG_WHY, shown=False) for name in _KLOG_VALUES),
)  # fmt: skip
"""The reference's flags that change nothing here: its informer flags, and klog's."""


def add_reference_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "amazon-eks-pod-identity-webhook",
        "Flags of the reference webhook without a counterpart here, accepted so its manifests run unchanged. "
        "klog's flags (--logtostderr, -v, --vmodule, --log_dir, ...) are accepted too; like the flags below "
        "marked 'no effect', they are named in a warning at start and ignored.",
    )
    add_bool_flag(group, "--in-cluster",
                  help="the reference's certificate from the CSR API: refused unless --tls-mode self")  # fmt: skip
    for flag in IGNORED_FLAGS:
        options = [f"--{flag.name}", *(["-v"] if flag.name == "v" else [])]
        group.add_argument(
            *options,
            dest=flag.dest,
            default=argparse.SUPPRESS,
            metavar="VALUE" if flag.takes_value else "BOOL",
            nargs=None if flag.takes_value else "?",
            const=None if flag.takes_value else "true",
            help=f"no effect: {flag.why}" if flag.shown else argparse.SUPPRESS,
        )


def check_reference_options(args: argparse.Namespace) -> None:
    """Refuse what cannot be honoured, and name in one warning what is ignored."""
    if args.in_cluster and args.tls_mode == "files":
        raise ConfigurationError(
            "--in-cluster=true asks for a serving certificate from the cluster's CertificateSigningRequest API, "
            "which this webhook does not do; use --in-cluster=false with the certificate in --tls-cert/--tls-key "
            "(as the reference's own manifests do), or --tls-mode self to have the webhook keep its own"
        )
    given = [flag for flag in IGNORED_FLAGS if hasattr(args, flag.dest)]
    if given:
        log.warning(
            "flags of amazon-eks-pod-identity-webhook with no effect here, ignored: %s",
            "; ".join(f"--{flag.name}={getattr(args, flag.dest)} ({flag.why})" for flag in given),
        )


def reference_arguments(argv: Sequence[str], *, environ: Mapping[str, str] = os.environ) -> list[str]:
    """amazon-eks-pod-identity-webhook's command line as `serve`'s, with the reference's defaults where ours
    differ; the given flags and our environment variables win over those defaults."""
    defaults = [
        f"{flag}={value}" for flag, value in REFERENCE_DEFAULTS.items() if env_name(flag) not in environ
    ]
    return ["serve", *defaults, *argv]
