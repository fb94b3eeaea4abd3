"""The partition and account of the EC2 instance the webhook runs on, for `--compose-role-arn`.

Read once at start, as the reference reads them: an IMDSv2 session token, then the instance identity
document. The address is the one every AWS SDK uses, or `AWS_EC2_METADATA_SERVICE_ENDPOINT` (the SDKs'
variable, which points the tests at a fake on loopback); `AWS_EC2_METADATA_DISABLED=true` forbids the read, as
it does for the SDKs. Timeouts are short: off EC2 nothing answers, and
the operator should hear so in seconds, not wait for a TCP timeout.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping

from webhook.engine.settings import RoleArnComposition, partition_of_region
from webhook.errors import InstanceMetadataError

DEFAULT_ENDPOINT = "http://169.254.169.254"
IPV6_ENDPOINT = "http://[fd00:ec2::254]"
ENDPOINT_VARIABLE = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
ENDPOINT_MODE_VARIABLE = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"
DISABLED_VARIABLE = "AWS_EC2_METADATA_DISABLED"
TOKEN_PATH = "/latest/api/token"
DOCUMENT_PATH = "/latest/dynamic/instance-identity/document"
TOKEN_TTL_SECONDS = 60
"""The session token is used for one read, right away."""
TIMEOUT_SECONDS = 2.0


def metadata_endpoint(environ: Mapping[str, str] = os.environ) -> str:
    """Where the instance metadata service is, as the AWS SDKs find it."""
    configured = environ.get(ENDPOINT_VARIABLE, "").strip()
    if configured:
        return configured.rstrip("/")
    if environ.get(ENDPOINT_MODE_VARIABLE, "").strip().lower() == "ipv6":
        return IPV6_ENDPOINT
    return DEFAULT_ENDPOINT


def instance_role_arn_composition(
    *, environ: Mapping[str, str] = os.environ, timeout: float = TIMEOUT_SECONDS
) -> RoleArnComposition:
    """The instance's partition (from its region) and account; InstanceMetadataError when either cannot be
    read, with what to do off EC2."""
    if environ.get(DISABLED_VARIABLE, "").strip().lower() == "true":
        raise InstanceMetadataError(
            f"--compose-role-arn needs the instance's account and partition, and {DISABLED_VARIABLE}=true "
            "forbids reading the EC2 instance metadata; give --compose-account-id (and --compose-partition)"
        )
    endpoint = metadata_endpoint(environ)
    try:
        token = _read(
            urllib.request.Request(
                endpoint + TOKEN_PATH,
                method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
            ),
            timeout=timeout,
        )
        document = json.loads(
            _read(
                urllib.request.Request(
                    endpoint + DOCUMENT_PATH, headers={"X-aws-ec2-metadata-token": token.decode("ascii")}
                ),
                timeout=timeout,
            )
        )
        account_id, region = document["accountId"], document["region"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InstanceMetadataError(
            f"--compose-role-arn needs the instance's account and partition, and the EC2 instance metadata at "
            f"{endpoint} did not give them ({_reason(error)}); off EC2, give --compose-account-id "
            "(and --compose-partition)"
        ) from None
    if not (isinstance(account_id, str) and account_id and isinstance(region, str) and region):
        raise InstanceMetadataError(
            f"the EC2 instance identity document at {endpoint} has no account or region: {document!r:.200}"
        )
    return RoleArnComposition(partition=partition_of_region(region), account_id=account_id)


def _read(request: urllib.request.Request, *, timeout: float) -> bytes:
    # No proxy: the metadata service is link-local, and an HTTP(S)_PROXY of the pod must not see the token.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        body: bytes = response.read()
    return body


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} from {error.url}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, KeyError):
        return f"no {error.args[0]} in the identity document"
    return str(error) or type(error).__name__
