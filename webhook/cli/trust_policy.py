"""`trust-policy`: print the IAM role trust policy for IRSA ServiceAccounts, or for EKS Pod Identity."""

from __future__ import annotations

import argparse
import json
from typing import Any

from webhook.engine.settings import DEFAULT_TOKEN_AUDIENCE
from webhook.errors import ConfigurationError
from webhook.tools.oidc_issuer import parse_issuer
from webhook.tools.trust_policy import (
    PARTITIONS,
    parse_account_id,
    parse_namespace,
    parse_service_account,
    partition_for_region,
    pod_identity_trust_policy,
    web_identity_trust_policy,
)

_IRSA_ONLY = {
    "issuer": "--issuer",
    "account_id": "--account-id",
    "service_accounts": "--service-account",
    "namespaces": "--namespace",
    "region": "--region",
    "partition": "--partition",
    "audience": "--audience",
}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trust-policy",
        help="print the IAM role trust policy for ServiceAccounts (IRSA) or for EKS Pod Identity",
        description="Print the trust policy of an IAM role that pods of the given ServiceAccounts may assume "
        "with their projected token (sts:AssumeRoleWithWebIdentity), or with --pod-identity the policy "
        "the EKS Pod Identity agent needs.",
    )
    parser.add_argument("--issuer", help="the cluster's ServiceAccount token issuer URL (https://...)")
    parser.add_argument("--account-id", help="the 12-digit AWS account that owns the IAM OIDC provider")
    parser.add_argument(
        "--service-account",
        dest="service_accounts",
        action="append",
        default=[],
        metavar="NAMESPACE/NAME",
        help="a ServiceAccount allowed to assume the role (repeatable)",
    )
    parser.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="allow every ServiceAccount of this namespace; * and ? match several (repeatable)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--region", help="derive the partition from this region (cn-* → aws-cn, us-gov-* → aws-us-gov)"
    )
    where.add_argument("--partition", choices=PARTITIONS, help="the AWS partition (default: aws)")
    parser.add_argument(
        "--audience", help=f"the token audience to require (default: {DEFAULT_TOKEN_AUDIENCE})"
    )
    parser.add_argument(
        "--pod-identity",
        action="store_true",
        help="print the EKS Pod Identity trust policy (principal pods.eks.amazonaws.com) instead",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(policy_from(args), indent=2))
    return 0


def policy_from(args: argparse.Namespace) -> dict[str, Any]:
    if args.pod_identity:
        given = [flag for name, flag in _IRSA_ONLY.items() if getattr(args, name)]
        if given:
            flags = ", ".join(given)
            raise ConfigurationError(
                f"--pod-identity takes no {flags}: EKS Pod Identity trusts the EKS service"
            )
        return pod_identity_trust_policy()
    if not args.issuer or not args.account_id:
        raise ConfigurationError("--issuer and --account-id are required (or --pod-identity)")
    subjects = [parse_service_account(text) for text in args.service_accounts]
    subjects += [parse_namespace(text) for text in args.namespaces]
    return web_identity_trust_policy(
        issuer=parse_issuer(args.issuer),
        account_id=parse_account_id(args.account_id),
        partition=partition_for_region(args.region) if args.region else args.partition or "aws",
        subjects=subjects,
        audience=args.audience or DEFAULT_TOKEN_AUDIENCE,
    )
