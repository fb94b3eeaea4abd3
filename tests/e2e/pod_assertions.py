"""What a correctly mutated pod looks like, as checks shared by the kind end-to-end run and the local tests.

`tests/e2e/kind.sh` runs them with `python -m tests.e2e.pod_assertions ...` on `kubectl get pod -o json`
output, a token read inside the pod, and its process environment; the image and chart tests call the same
functions on pods mutated here. Each check returns a list of problems, empty when the pod is right, so a
failure names everything that is wrong at once.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from webhook.engine.settings import (
    DEFAULT_ANNOTATION_PREFIX,
    DEFAULT_CONTAINER_CREDENTIALS_AUDIENCE,
    DEFAULT_CONTAINER_CREDENTIALS_FULL_URI,
    DEFAULT_CONTAINER_CREDENTIALS_TOKEN_MOUNT_PATH,
    DEFAULT_CONTAINER_CREDENTIALS_TOKEN_PATH,
    DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME,
    DEFAULT_TOKEN_AUDIENCE,
    DEFAULT_TOKEN_MOUNT_PATH,
    IRSA_TOKEN_FILE,
    IRSA_VOLUME_NAME,
)

Pod = Mapping[str, Any]

IRSA_VARIABLES = ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
POD_IDENTITY_VARIABLES = ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
INJECTED_VARIABLES = (
    *IRSA_VARIABLES,
    *POD_IDENTITY_VARIABLES,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
)


def _containers(pod: Pod) -> Iterator[tuple[str, Mapping[str, Any]]]:
    spec = pod.get("spec") or {}
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or ():
            yield f"{field[:-1]} {container.get('name')!r}", container


def _env(container: Mapping[str, Any]) -> dict[str, str | None]:
    return {item["name"]: item.get("value") for item in container.get("env") or ()}


def _volume(pod: Pod, name: str) -> Mapping[str, Any] | None:
    return next((v for v in (pod.get("spec") or {}).get("volumes") or () if v.get("name") == name), None)


def _token_volume_problems(pod: Pod, *, volume_name: str, audience: str, path: str) -> list[str]:
    volume = _volume(pod, volume_name)
    if volume is None:
        return [f"pod has no volume {volume_name!r}"]
    sources = (volume.get("projected") or {}).get("sources") or ()
    tokens = [source["serviceAccountToken"] for source in sources if "serviceAccountToken" in source]
    if len(tokens) != 1:
        return [f"volume {volume_name!r} is not a projected volume with one serviceAccountToken"]
    token = tokens[0]
    problems = []
    if token.get("audience") != audience:
        problems.append(
            f"volume {volume_name!r} token audience is {token.get('audience')!r}, not {audience!r}"
        )
    if token.get("path") != path:
        problems.append(f"volume {volume_name!r} token path is {token.get('path')!r}, not {path!r}")
    if not isinstance(token.get("expirationSeconds"), int) or token["expirationSeconds"] < 600:
        problems.append(f"volume {volume_name!r} expirationSeconds is {token.get('expirationSeconds')!r}")
    return problems


def _container_problems(
    pod: Pod,
    *,
    expected_env: Mapping[str, str],
    volume_name: str,
    mount_path: str,
    skip: Sequence[str],
) -> list[str]:
    problems = []
    for where, container in _containers(pod):
        if container.get("name") in skip:
            continue
        env = _env(container)
        problems += [
            f"{where}: {name} is {env.get(name)!r}, expected {value!r}"
            for name, value in expected_env.items()
            if env.get(name) != value
        ]
        mounts = [m for m in container.get("volumeMounts") or () if m.get("name") == volume_name]
        if [(m.get("mountPath"), m.get("readOnly")) for m in mounts] != [(mount_path, True)]:
            problems.append(f"{where}: expected one read-only mount of {volume_name!r} at {mount_path}")
    return problems


def irsa_problems(
    pod: Pod,
    *,
    role_arn: str,
    audience: str = DEFAULT_TOKEN_AUDIENCE,
    mount_path: str = DEFAULT_TOKEN_MOUNT_PATH,
    region: str = "",
    skip: Sequence[str] = (),
) -> list[str]:
    """Every container but `skip` gets the role, the token file and its mount; the pod gets the token volume."""
    expected = {"AWS_ROLE_ARN": role_arn, "AWS_WEB_IDENTITY_TOKEN_FILE": f"{mount_path}/{IRSA_TOKEN_FILE}"}
    if region:
        expected |= {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    return _token_volume_problems(
        pod, volume_name=IRSA_VOLUME_NAME, audience=audience, path=IRSA_TOKEN_FILE
    ) + _container_problems(
        pod, expected_env=expected, volume_name=IRSA_VOLUME_NAME, mount_path=mount_path, skip=skip
    )


def pod_identity_problems(
    pod: Pod,
    *,
    audience: str = DEFAULT_CONTAINER_CREDENTIALS_AUDIENCE,
    full_uri: str = DEFAULT_CONTAINER_CREDENTIALS_FULL_URI,
    mount_path: str = DEFAULT_CONTAINER_CREDENTIALS_TOKEN_MOUNT_PATH,
    volume_name: str = DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME,
    token_path: str = DEFAULT_CONTAINER_CREDENTIALS_TOKEN_PATH,
    annotation_prefix: str = DEFAULT_ANNOTATION_PREFIX,
) -> list[str]:
    """Pod Identity credentials instead of a web-identity role, and the label that says so."""
    expected = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": full_uri,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": f"{mount_path}/{token_path}",
    }
    problems = _token_volume_problems(pod, volume_name=volume_name, audience=audience, path=token_path)
    problems += _container_problems(
        pod, expected_env=expected, volume_name=volume_name, mount_path=mount_path, skip=()
    )
    problems += [
        f"{where}: has {name} although it uses Pod Identity"
        for where, container in _containers(pod)
        for name in IRSA_VARIABLES
        if name in _env(container)
    ]
    label = f"{annotation_prefix}/pod-identity"
    value = ((pod.get("metadata") or {}).get("labels") or {}).get(label)
    if value != "enabled":
        problems.append(f"pod label {label} is {value!r}, expected 'enabled'")
    return problems


def untouched_problems(pod: Pod) -> list[str]:
    """Nothing the webhook injects is there: no credential variables and no token volume."""
    problems = [
        f"{where}: has {name}"
        for where, container in _containers(pod)
        for name in INJECTED_VARIABLES
        if name in _env(container)
    ]
    problems += [
        f"pod has volume {name!r}"
        for name in (IRSA_VOLUME_NAME, DEFAULT_CONTAINER_CREDENTIALS_TOKEN_VOLUME_NAME)
        if _volume(pod, name) is not None
    ]
    return problems


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified: the API server that issued it is the one under test."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT: expected three dot-separated parts")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not a JWT: {error}") from error
    if not isinstance(claims, dict):
        raise ValueError("not a JWT: the payload is not a JSON object")
    return claims


def token_problems(
    token: str,
    *,
    audience: str,
    namespace: str,
    service_account: str,
    issuer: str = "",
    lifetime: int | None = None,
) -> list[str]:
    """The projected token names the audience IAM checks and the subject the role's trust policy matches,
    and lives the `lifetime` (seconds, exp - iat) the pod's volume asked for."""
    try:
        claims = jwt_claims(token)
    except ValueError as error:
        return [str(error)]
    problems = []
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences or []
    if audiences != [audience]:
        problems.append(f"token aud is {claims.get('aud')!r}, expected [{audience!r}]")
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    if claims.get("sub") != subject:
        problems.append(f"token sub is {claims.get('sub')!r}, expected {subject!r}")
    if issuer and claims.get("iss") != issuer:
        problems.append(f"token iss is {claims.get('iss')!r}, expected {issuer!r}")
    if lifetime is not None:
        actual = claims.get("exp", 0) - claims.get("iat", 0)
        if actual != lifetime:
            problems.append(f"token lives {actual}s (exp - iat), expected {lifetime}s")
    return problems


def environment_problems(environment: str, expected: Mapping[str, str]) -> list[str]:
    """`env` output of a process in the pod: the variables really reach the program."""
    actual = dict(line.split("=", 1) for line in environment.splitlines() if "=" in line)
    return [
        f"process environment: {name} is {actual.get(name)!r}, expected {value!r}"
        for name, value in expected.items()
        if actual.get(name) != value
    ]


def _read(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.pod_assertions", description="Check a pod the webhook mutated."
    )
    checks = parser.add_subparsers(dest="check", required=True)
    irsa = checks.add_parser(
        "irsa", help="a pod with an IRSA role (POD is `kubectl get pod -o json`, - for stdin)"
    )
    irsa.add_argument("pod")
    irsa.add_argument("--role-arn", required=True)
    irsa.add_argument("--region", default="")
    irsa.add_argument("--skip", action="append", default=[], help="a container the pod asked to skip")
    pod_identity = checks.add_parser("pod-identity", help="a pod with EKS Pod Identity credentials")
    pod_identity.add_argument("pod")
    untouched = checks.add_parser("untouched", help="a pod the webhook must leave alone")
    untouched.add_argument("pod")
    token = checks.add_parser("token", help="a projected token file's claims")
    token.add_argument("token")
    token.add_argument("--audience", required=True)
    token.add_argument("--namespace", required=True)
    token.add_argument("--service-account", required=True)
    token.add_argument("--issuer", default="")
    token.add_argument("--lifetime", type=int, default=None, help="expected exp - iat, in seconds")
    environment = checks.add_parser("environment", help="`env` output of a process in the pod")
    environment.add_argument("environment")
    environment.add_argument("expected", nargs="+", metavar="NAME=VALUE")
    return parser


def problems_for(args: argparse.Namespace) -> list[str]:
    if args.check == "irsa":
        pod = json.loads(_read(args.pod))
        return irsa_problems(pod, role_arn=args.role_arn, region=args.region, skip=args.skip)
    if args.check == "pod-identity":
        return pod_identity_problems(json.loads(_read(args.pod)))
    if args.check == "untouched":
        return untouched_problems(json.loads(_read(args.pod)))
    if args.check == "token":
        return token_problems(
            _read(args.token),
            audience=args.audience,
            namespace=args.namespace,
            service_account=args.service_account,
            issuer=args.issuer,
            lifetime=args.lifetime,
        )
    expected = dict(item.split("=", 1) for item in args.expected)
    return environment_problems(_read(args.environment), expected)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problems = problems_for(args)
    for problem in problems:
        print(f"FAIL {args.check}: {problem}", file=sys.stderr)
    if not problems:
        print(f"ok {args.check}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
