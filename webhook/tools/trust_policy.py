"""IAM role trust policies for IRSA and EKS Pod Identity, written so the usual mistakes cannot happen.

The classic failures are a `sub` that does not match `system:serviceaccount:<namespace>:<name>`, a
principal ARN in the wrong partition, and mixing exact and wildcard subjects under two operators (IAM
ANDs different condition operators, so such a role can never be assumed). Every subject here goes
under one operator: `StringEquals` when all are exact, `StringLike` as soon as one is a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webhook.errors import ConfigurationError
from webhook.tools.oidc_issuer import IssuerUrl

POLICY_VERSION = "2012-10-17"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
_REGION_PARTITIONS = (  # the regionRegex of each partition in botocore's partitions.json
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
    ("eusc-", "aws-eusc"),
)
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d+$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAMESPACE_PATTERN = re.compile(r"^[-a-z0-9*?]{1,63}$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class Subject:
    """A ServiceAccount, or every ServiceAccount of the namespaces a pattern matches (`name` is None)."""

    namespace: str
    name: str | None = None

    @property
    def sub(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name or '*'}"

    @property
    def is_wildcard(self) -> bool:
        return self.name is None or any(char in self.namespace for char in "*?")


def parse_service_account(text: str) -> Subject:
    """`namespace/name`, both valid Kubernetes names."""
    namespace, slash, name = text.strip().partition("/")
    if not slash:
        raise ConfigurationError(f"service account {text!r} must be written namespace/name")
    if not _DNS_LABEL.match(namespace):
        raise ConfigurationError(f"service account {text!r}: {namespace!r} is not a valid namespace name")
    if not _DNS_SUBDOMAIN.match(name):
        raise ConfigurationError(f"service account {text!r}: {name!r} is not a valid ServiceAccount name")
    return Subject(namespace, name)


def parse_namespace(text: str) -> Subject:
    """Every ServiceAccount in a namespace; `*` and `?` match several namespaces (`team-*`)."""
    namespace = text.strip()
    if not _NAMESPACE_PATTERN.match(namespace):
        raise ConfigurationError(
            f"namespace {text!r} is not a namespace name or pattern (letters, digits, -, *, ?)"
        )
    return Subject(namespace)


def parse_account_id(text: str) -> str:
    account = text.strip()
    if not _ACCOUNT_ID.match(account):
        raise ConfigurationError(f"account id {text!r} must be exactly 12 digits")
    return account


def partition_for_region(region: str) -> str:
    """The AWS partition a region belongs to (China and GovCloud have their own ARNs)."""
    if not _REGION.match(region):
        raise ConfigurationError(f"region {region!r} is not an AWS region name such as us-west-2")
    return next((partition for prefix, partition in _REGION_PARTITIONS if region.startswith(prefix)), "aws")


def web_identity_trust_policy(
    *,
    issuer: IssuerUrl,
    account_id: str,
    partition: str,
    subjects: Sequence[Subject],
    audience: str,
) -> dict[str, Any]:
    """The trust policy that lets pods of `subjects` assume the role with tokens from `issuer`."""
    if not subjects:
        raise ConfigurationError("give at least one --service-account namespace/name or --namespace")
    subs = list(dict.fromkeys(subject.sub for subject in subjects))
    operator = "StringLike" if any(subject.is_wildcard for subject in subjects) else "StringEquals"
    provider = issuer.provider_id
    conditions: dict[str, dict[str, Any]] = {
        operator: {f"{provider}:sub": subs[0] if len(subs) == 1 else subs}
    }
    conditions.setdefault("StringEquals", {})[f"{provider}:aud"] = audience
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:{partition}:iam::{account_id}:oidc-provider/{provider}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": conditions,
            }
        ],
    }


def pod_identity_trust_policy() -> dict[str, Any]:
    """The trust policy EKS Pod Identity needs: the agent's service assumes the role and tags the session."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_SERVICE},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
