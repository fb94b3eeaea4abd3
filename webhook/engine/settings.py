"""Operator settings that decide what the mutation injects: one frozen value shared by `serve` and `inject`.

Defaults are those of AWS's amazon-eks-pod-identity-webhook so manifests written for it keep working.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

DEFAULT_ANNOTATION_PREFIX = "eks.amazonaws.com"
DEFAULT_TOKEN_AUDIENCE = "sts.amazonaws.com"
DEFAULT_TOKEN_MOUNT_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
DEFAULT_TOKEN_EXPIRATION = 86400
IRSA_VOLUME_NAME = "aws-iam-token"
IRSA_TOKEN_FILE = "token"

DEFAULT_CONTAINER_CREDENTIALS_AUDIENCE = "pods.eks.amazonaws.com"
DEFAULT_CONTAINER_CREDENTIALS_TOKEN_MOUNT_PATH = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME = "eks-pod-identity-token"
DEFAULT_CONTAINER_CREDENTIALS_TOKEN_PATH = "eks-pod-identity-token"
DEFAULT_CONTAINER_CREDENTIALS_FULL_URI = "http://169.254.170.23/v1/credentials"
IPV6_CONTAINER_CREDENTIALS_FULL_URI = "http://[fd00:ec2::23]/v1/credentials"

MIN_TOKEN_EXPIRATION = 600
"""The API server rejects projected tokens that live shorter than ten minutes."""
MAX_TOKEN_EXPIRATION = 2**32
"""The API server rejects expirationSeconds above 2^32."""


@dataclass(frozen=True, slots=True)
class AnnotationKeys:
    """Every annotation and label key under one prefix, built once: admission reads them on every request."""

    role_arn: str
    audience: str
    sts_regional_endpoints: str
    token_expiration: str
    skip_containers: str
    skip_pod: str
    pod_identity: str


@functools.cache
def annotation_keys(prefix: str) -> AnnotationKeys:
    return AnnotationKeys(
        role_arn=f"{prefix}/role-arn",
        audience=f"{prefix}/audience",
        sts_regional_endpoints=f"{prefix}/sts-regional-endpoints",
        token_expiration=f"{prefix}/token-expiration",
        skip_containers=f"{prefix}/skip-containers",
        skip_pod=f"{prefix}/skip-pod-identity-webhook",
        pod_identity=f"{prefix}/pod-identity",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleArnComposition:
    """`--compose-role-arn`: the partition and account a role name in an annotation is completed with."""

    partition: str
    account_id: str

    def role_arn(self, value: str) -> str:
        """`value` as a role ARN: a value that is one already is kept, anything else is taken for a role name
        or path. "Already one" is the reference's test (it contains `arn:`), so both agree on every value."""
        if "arn:" in value:
            return value
        return f"arn:{self.partition}:iam::{self.account_id}:role/{value}"


PARTITION_OF_REGION_PREFIX = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
)
"""The AWS partitions other than `aws`, by the prefix of their regions' names (longest prefixes first)."""


def partition_of_region(region: str) -> str:
    """The partition a region belongs to, as the AWS SDKs' endpoint tables say; `aws` for every other."""
    return next(
        (partition for prefix, partition in PARTITION_OF_REGION_PREFIX if region.startswith(prefix)), "aws"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MutationSettings:
    """Everything besides the pod and its identity that changes the patch."""

    annotation_prefix: str = DEFAULT_ANNOTATION_PREFIX
    token_audience: str = DEFAULT_TOKEN_AUDIENCE
    token_mount_path: str = DEFAULT_TOKEN_MOUNT_PATH
    token_expiration: int = DEFAULT_TOKEN_EXPIRATION
    aws_default_region: str = ""
    sts_regional_endpoint: bool = False
    container_credentials_audience: str = DEFAULT_CONTAINER_CREDENTIALS_AUDIENCE
    container_credentials_token_mount_path: str = DEFAULT_CONTAINER_CREDENTIALS_TOKEN_MOUNT_PATH
    container_credentials_token_volume_name: str = DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME
    container_credentials_token_path: str = DEFAULT_CONTAINER_CREDENTIALS_TOKEN_PATH
    container_credentials_full_uri: str = DEFAULT_CONTAINER_CREDENTIALS_FULL_URI
    compose_role_arn: RoleArnComposition | None = None
    """With `--compose-role-arn`: a role-arn annotation that is a role name becomes a full ARN."""

    @property
    def keys(self) -> AnnotationKeys:
        return annotation_keys(self.annotation_prefix)

    def annotation(self, suffix: str) -> str:
        """The full annotation (or label) key `<prefix>/<suffix>`."""
        return f"{self.annotation_prefix}/{suffix}"
