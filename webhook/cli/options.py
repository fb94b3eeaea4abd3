"""Flags shared by subcommands. Every flag can also be set by an environment variable
`POD_IDENTITY_WEBHOOK_<FLAG_NAME>` (upper case, dashes as underscores); the command line wins."""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webhook.aws.instance_metadata import instance_role_arn_composition
from webhook.engine.annotation_values import PARSE_BOOL_FALSE, PARSE_BOOL_TRUE, clamp_token_expiration
from webhook.engine.settings import (
    DEFAULT_ANNOTATION_PREFIX,
    DEFAULT_CONTAINER_CREDENTIALS_AUDIENCE,
    DEFAULT_CONTAINER_CREDENTIALS_FULL_URI,
    DEFAULT_CONTAINER_CREDENTIALS_TOKEN_MOUNT_PATH,
    DEFAULT_CONTAINER_CREDENTIALS_TOKEN_PATH,
    DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME,
    DEFAULT_TOKEN_AUDIENCE,
    DEFAULT_TOKEN_EXPIRATION,
    DEFAULT_TOKEN_MOUNT_PATH,
    MutationSettings,
    RoleArnComposition,
)
from webhook.errors import ConfigurationError

log = logging.getLogger("webhook.cli")

ENV_PREFIX = "POD_IDENTITY_WEBHOOK_"
_TRUE = PARSE_BOOL_TRUE | {"yes", "on"}
_FALSE = PARSE_BOOL_FALSE | {"no", "off", ""}
"""Go's `strconv.ParseBool` spellings, which the reference's flags take, plus yes/no/on/off; any case."""


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


def parse_bool_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


MAX_VALIDITY_DAYS = 36_500
ACCOUNT_ID_DIGITS = 12


def validity_days(text: str) -> int:
    """A certificate lifetime: a positive whole number of days, at most a hundred years."""
    value = positive_int(text)
    if value > MAX_VALIDITY_DAYS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_VALIDITY_DAYS} days, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def token_seconds(text: str) -> int:
    """A whole number of seconds; `mutation_settings_from` brings it within the API server's limits."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}") from None


def account_id(text: str) -> str:
    """An AWS account ID: twelve digits."""
    if not (len(text) == ACCOUNT_ID_DIGITS and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a {ACCOUNT_ID_DIGITS}-digit AWS account ID, got {text!r}")
    return text


def port_number(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class _FromEnvironment:
    """A flag's default taken from its environment variable, read only if the command line leaves the flag
    out, so a bad variable neither overrides the command line nor breaks `--help`."""

    variable: str
    text: str
    kind: Any
    choices: Any

    def value(self) -> Any:
        where = f"environment variable {self.variable}={self.text!r}"
        try:
            value = self.kind(self.text) if callable(self.kind) else self.text
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise ConfigurationError(f"{where}: {error}") from error
        if self.choices is not None and value not in self.choices:
            raise ConfigurationError(f"{where}: choose from {', '.join(map(str, self.choices))}")
        return value


class FlagParser(argparse.ArgumentParser):
    """An ArgumentParser that reads the environment variables of the flags the command line left out."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        for name, value in vars(parsed).items():
            if isinstance(value, _FromEnvironment):
                setattr(parsed, name, value.value())
        return parsed, extras


def add_flag(parser: argparse.ArgumentParser | Any, flag: str, *, default: Any = None, **kwargs: Any) -> None:
    """Add `flag` whose default is read from its environment variable, and say so in --help."""
    variable = env_name(flag)
    from_env = os.environ.get(variable)
    if from_env is not None:
        default = _FromEnvironment(variable, from_env, kwargs.get("type"), kwargs.get("choices"))
    help_text = kwargs.pop("help", "")
    shown = from_env if from_env is not None else default
    default_text = "" if shown in (None, "", False, []) else f" (default: {shown})"
    parser.add_argument(flag, default=default, help=f"{help_text}{default_text} [env {variable}]", **kwargs)


def add_bool_flag(parser: argparse.ArgumentParser | Any, flag: str, *, help: str) -> None:
    """A boolean flag written as the reference's Go flags are: `--flag`, `--flag=true`, `--flag=false`."""
    add_flag(
        parser, flag, type=parse_bool_text, default=False, nargs="?", const=True, metavar="BOOL", help=help
    )


def add_mutation_options(parser: argparse.ArgumentParser) -> None:
    """The flags that change the patch: `serve`, `inject` and `explain` share them so they agree."""
    group = parser.add_argument_group("mutation")
    add_flag(group, "--annotation-prefix", default=DEFAULT_ANNOTATION_PREFIX,
             help="prefix of the ServiceAccount and pod annotations and labels")  # fmt: skip
    add_flag(
        group, "--token-audience", default=DEFAULT_TOKEN_AUDIENCE, help="default audience of the IRSA token"
    )
    add_flag(
        group, "--token-mount-path", default=DEFAULT_TOKEN_MOUNT_PATH, help="where the IRSA token is mounted"
    )
    add_flag(group, "--token-expiration", type=token_seconds, default=DEFAULT_TOKEN_EXPIRATION,
             help="default token lifetime in seconds; below 600 becomes 600, above 2^32 becomes 2^32")  # fmt: skip
    add_flag(group, "--aws-default-region", default="",
             help="inject AWS_REGION and AWS_DEFAULT_REGION with this region")  # fmt: skip
    add_bool_flag(group, "--sts-regional-endpoint", help="inject AWS_STS_REGIONAL_ENDPOINTS=regional")
    add_flag(group, "--container-credentials-audience", default=DEFAULT_CONTAINER_CREDENTIALS_AUDIENCE,
             help="audience of the Pod Identity token")  # fmt: skip
    add_flag(group, "--container-credentials-token-mount-path",
             default=DEFAULT_CONTAINER_CREDENTIALS_TOKEN_MOUNT_PATH,
             help="where the Pod Identity token is mounted")  # fmt: skip
    add_flag(group, "--container-credentials-token-volume-name",
             default=DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME,
             help="name of the Pod Identity token volume")  # fmt: skip
    add_flag(group, "--container-credentials-token-path", default=DEFAULT_CONTAINER_CREDENTIALS_TOKEN_PATH,
             help="file name of the Pod Identity token inside its volume")  # fmt: skip
    add_flag(group, "--container-credentials-full-uri", default=DEFAULT_CONTAINER_CREDENTIALS_FULL_URI,
             help="the Pod Identity agent's URI (IPv6 clusters: http://[fd00:ec2::23]/v1/credentials)")  # fmt: skip
    add_bool_flag(group, "--compose-role-arn",
                  help="a role-arn annotation that is a role name or path becomes the role's ARN in the account "
                       "and partition of the EC2 instance (instance metadata, read at start), or of "
                       "--compose-account-id and --compose-partition")  # fmt: skip
    add_flag(group, "--compose-account-id", type=account_id,
             help="with --compose-role-arn: the account of composed ARNs, instead of the instance's")  # fmt: skip
    add_flag(group, "--compose-partition", default="",
             help="with --compose-account-id: the partition of composed ARNs (default: aws)")  # fmt: skip


def mutation_settings_from(args: argparse.Namespace) -> MutationSettings:
    """The settings the flags describe. A token expiration out of the API server's range is clamped with a
    warning, as the reference does, so manifests written for it keep starting."""
    token_expiration, warning = clamp_token_expiration(args.token_expiration, where="--token-expiration")
    if warning:
        log.warning("%s", warning)
    return MutationSettings(
        annotation_prefix=args.annotation_prefix,
        token_audience=args.token_audience,
        token_mount_path=args.token_mount_path,
        token_expiration=token_expiration,
        aws_default_region=args.aws_default_region,
        sts_regional_endpoint=args.sts_regional_endpoint,
        container_credentials_audience=args.container_credentials_audience,
        container_credentials_token_mount_path=args.container_credentials_token_mount_path,
        container_credentials_token_volume_name=args.container_credentials_token_volume_name,
        container_credentials_token_path=args.container_credentials_token_path,
        container_credentials_full_uri=args.container_credentials_full_uri,
        compose_role_arn=role_arn_composition_from(args),
    )


def role_arn_composition_from(args: argparse.Namespace) -> RoleArnComposition | None:
    """With --compose-role-arn, the partition and account of composed ARNs: the flags' where given (off EC2,
    and for the offline commands), else the instance's, read once now; failing that stops the start."""
    if not args.compose_role_arn:
        if args.compose_account_id or args.compose_partition:
            raise ConfigurationError("--compose-account-id and --compose-partition need --compose-role-arn")
        return None
    if args.compose_account_id:
        return RoleArnComposition(
            partition=args.compose_partition or "aws", account_id=args.compose_account_id
        )
    if args.compose_partition:
        raise ConfigurationError("--compose-partition needs --compose-account-id")
    composition = instance_role_arn_composition()
    log.info(
        "--compose-role-arn: role names become arn:%s:iam::%s:role/<name> (EC2 instance metadata)",
        composition.partition, composition.account_id,
    )  # fmt: skip
    return composition
