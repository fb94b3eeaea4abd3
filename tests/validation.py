"""Would the API server accept this pod? The OpenAPI schema in strict mode, plus the rules the schema misses.

`kubernetes_validate.validate` reloads a 1.8 MB definitions file and rebuilds its validator on every call
(7-12 ms a pod); the validator is built once per Kubernetes version here instead (well under 1 ms a pod),
so hundreds of mutated pods can be checked in every run.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jsonschema
import referencing
from kubernetes_validate import utils as kubernetes_schemas

OLDEST_VERSION = "1.25"
NEWEST_VERSION = kubernetes_schemas.major_minor(kubernetes_schemas.latest_version())
SUPPORTED_VERSIONS = (OLDEST_VERSION, NEWEST_VERSION)

MIN_TOKEN_EXPIRATION = 600
MAX_TOKEN_EXPIRATION = 2**32

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
"""IsEnvVarName: what every Kubernetes release accepts (1.34 relaxed it, 1.25 did not)."""

Pod = Mapping[str, Any]


@functools.cache
def _pod_validator(version: str) -> jsonschema.protocols.Validator:
    """The strict Pod schema of the newest bundled release of `version`, as kubernetes_validate picks it."""
    bundled = [
        release
        for release in kubernetes_schemas.all_versions()
        if kubernetes_schemas.major_minor(release) == kubernetes_schemas.major_minor(version)
    ]
    if not bundled:
        raise LookupError(f"kubernetes_validate has no schema for Kubernetes {version}")
    directory = f"kubernetes-json-schema/v{bundled[-1]}-local-strict"
    schema = kubernetes_schemas.schema_contents(f"{directory}/pod-v1.json", version)
    definitions = kubernetes_schemas.schema_contents(f"{directory}/_definitions.json", version)
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ referencing.Registry()
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_violations(pod: Pod, *, version: str) -> list[str]:
    validator = _pod_validator(version)
    return [
        f"Kubernetes {version} schema: {'.'.join(str(part) for part in error.absolute_path) or '<pod>'}: "
        f"{error.message}"
        for error in validator.iter_errors(dict(pod))
    ]


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field) or ()):
            yield f"spec.{field}[{index}]", container


def _duplicates(values: Sequence[str]) -> list[str]:
    return sorted(value for value, count in Counter(values).items() if count > 1)


def _env_names_by_container(pod: Pod) -> dict[str, list[str]]:
    return {
        where: [variable.get("name", "") for variable in container.get("env") or ()]
        for where, container in _containers(pod.get("spec") or {})
    }


def api_server_rule_violations(pod: Pod, *, original: Pod | None = None) -> list[str]:
    """Validation the API server does in code rather than in the OpenAPI schema (pkg/apis/core/validation).

    With `original`, duplicate env names the original already had are tolerated (the API server accepts
    them); without it, any duplicate env name is reported.
    """
    spec: Mapping[str, Any] = pod.get("spec") or {}
    problems: list[str] = []

    volumes = spec.get("volumes") or ()
    volume_names = [volume.get("name", "") for volume in volumes]
    problems += [f"spec.volumes: duplicate volume name {name!r}" for name in _duplicates(volume_names)]
    problems += [
        f"spec.volumes: {name!r} is not a DNS label" for name in volume_names if not _DNS_LABEL.match(name)
    ]
    for index, volume in enumerate(volumes):
        for source in (volume.get("projected") or {}).get("sources") or ():
            token = source.get("serviceAccountToken")
            if token is None:
                continue
            seconds = token.get("expirationSeconds")
            if seconds is not None and not MIN_TOKEN_EXPIRATION <= seconds <= MAX_TOKEN_EXPIRATION:
                problems.append(
                    f"spec.volumes[{index}]: serviceAccountToken expirationSeconds {seconds} outside "
                    f"[{MIN_TOKEN_EXPIRATION}, {MAX_TOKEN_EXPIRATION}]"
                )
            if not token.get("path"):
                problems.append(f"spec.volumes[{index}]: serviceAccountToken has no path")

    container_names = [container.get("name", "") for _, container in _containers(spec)]
    problems += [f"spec: duplicate container name {name!r}" for name in _duplicates(container_names)]
    problems += [
        f"spec: container name {name!r} is not a DNS label"
        for name in container_names
        if not _DNS_LABEL.match(name)
    ]

    known_volumes = set(volume_names)
    original_env = _env_names_by_container(original) if original is not None else {}
    for where, container in _containers(spec):
        mounts = container.get("volumeMounts") or ()
        paths = [mount.get("mountPath", "").rstrip("/") or "/" for mount in mounts]
        problems += [f"{where}: two volumeMounts at {path!r}" for path in _duplicates(paths)]
        problems += [
            f"{where}: volumeMount of unknown volume {mount.get('name')!r}"
            for mount in mounts
            if mount.get("name") not in known_volumes
        ]
        names = [variable.get("name", "") for variable in container.get("env") or ()]
        problems += [
            f"{where}: env name {name!r} is not a valid variable name"
            for name in names
            if not _ENV_VAR_NAME.match(name)
        ]
        already = Counter(original_env.get(where, ())) if original is not None else Counter[str]()
        problems += [
            f"{where}: duplicate env name {name!r}"
            for name in _duplicates(names)
            if Counter(names)[name] > max(already[name], 1)
        ]
    return problems


def assert_valid_pod(
    pod: Pod, *, original: Pod | None = None, versions: Sequence[str] = SUPPORTED_VERSIONS
) -> None:
    """Fail with every reason the API server would reject `pod` (`original`: the pod before the patch)."""
    problems = api_server_rule_violations(pod, original=original)
    for version in versions:
        problems += schema_violations(pod, version=version)
    assert not problems, "invalid pod:\n  " + "\n  ".join(problems)
