"""The mutation: a pure function from (pod as received, identity, settings) to RFC 6902 operations.

Operations are granular appends and adds against the JSON the API server sent, never a re-serialised array,
so fields this code does not model survive. Running it again on its own output yields no operations, which
makes it safe under `reinvocationPolicy: IfNeeded`. `serve`, `inject` and `explain` all call this module.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

import msgspec

from webhook.annotation_values import parse_name_list, parse_token_expiration
from webhook.identity import Identity, Mode
from webhook.pod_view import Container, Pod, PodSpec
from webhook.settings import IRSA_TOKEN_FILE, IRSA_VOLUME_NAME, MutationSettings

Operation = dict[str, Any]

STS_REGIONAL_ENDPOINTS = "AWS_STS_REGIONAL_ENDPOINTS"
REGION_KEYS = ("AWS_DEFAULT_REGION", "AWS_REGION")
IRSA_KEYS = ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
POD_IDENTITY_KEYS = ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
_REGION_KEY_SET = frozenset(REGION_KEYS)
OS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")
WINDOWS = "windows"


class Skip(enum.Enum):
    """Why a container was left exactly as it was."""

    SKIP_CONTAINERS = "named in the skip-containers annotation"
    ALREADY_CONFIGURED = "credentials, region and STS settings are all already set"


class MountOutcome(enum.Enum):
    ADDED = "added"
    EXISTS = "a mount of the token volume already exists"
    PATH_CONFLICT = "another volume is already mounted at the token path"


class ContainerOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one container: `explain` prints it, the tests assert on it."""

    name: str
    init: bool
    skipped: Skip | None = None
    added_env: tuple[str, ...] = ()
    mount: MountOutcome | None = None


class Mutation(msgspec.Struct, frozen=True, kw_only=True):
    patch: list[Operation]
    warnings: tuple[str, ...] = ()
    containers: tuple[ContainerOutcome, ...] = ()
    pod_skipped: bool = False


class _Injection(msgspec.Struct, frozen=True, kw_only=True):
    """What one identity injects, worked out once per (identity, settings, windows) and shared by every
    container and every pod of that identity: admission builds it for each of thousands of pods."""

    volume_name: str
    mount_path: str
    mount_path_key: str
    """The mount path without a trailing slash, for comparing with the paths already mounted."""
    file_name: str
    credential_keys: frozenset[str]
    sts_env: tuple[tuple[str, str], ...]
    region_env: tuple[tuple[str, str], ...]
    credential_env: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=1024)
def _injection(identity: Identity, settings: MutationSettings, windows: bool) -> _Injection:
    if identity.mode is Mode.POD_IDENTITY:
        volume_name = settings.container_credentials_volume_name
        mount_path = settings.container_credentials_mount_path
        file_name = settings.container_credentials_token_path
        keys, first = POD_IDENTITY_KEYS, settings.container_credentials_full_uri
    else:
        volume_name, mount_path, file_name = IRSA_VOLUME_NAME, settings.token_mount_path, IRSA_TOKEN_FILE
        keys, first = IRSA_KEYS, identity.role_arn
    token_path = token_file_path(mount_path=mount_path, file_name=file_name, windows=windows)
    region = settings.aws_default_region
    return _Injection(
        volume_name=volume_name,
        mount_path=mount_path,
        mount_path_key=mount_path.rstrip("/"),
        file_name=file_name,
        credential_keys=frozenset(keys),
        sts_env=((STS_REGIONAL_ENDPOINTS, "regional"),) if identity.regional_sts else (),
        region_env=tuple((key, region) for key in REGION_KEYS) if region else (),
        credential_env=tuple(zip(keys, (first, token_path), strict=True)),
    )


def pod_is_skipped(pod: Pod, settings: MutationSettings) -> bool:
    """Pods labelled `<prefix>/skip-pod-identity-webhook` (any value) are never touched."""
    labels = pod.meta.labels
    return labels is not None and settings.keys.skip_pod in labels


def is_windows(spec: PodSpec) -> bool:
    """True when the pod can only run on Windows nodes, so the token path must be a Windows path."""
    if spec.os is not None and spec.os.name == WINDOWS:
        return True
    selector = spec.nodeSelector or {}
    if any(selector.get(label) == WINDOWS for label in OS_LABELS):
        return True
    affinity = spec.affinity.nodeAffinity if spec.affinity else None
    required = affinity.requiredDuringSchedulingIgnoredDuringExecution if affinity else None
    terms = required.nodeSelectorTerms if required else None
    if not terms:
        return False
    # Terms are alternatives: the pod is Windows-only when every alternative admits only Windows.
    return all(
        any(
            expression.key in OS_LABELS and expression.operator == "In" and expression.values == [WINDOWS]
            for expression in term.matchExpressions or ()
        )
        for term in terms
    )


def token_file_path(*, mount_path: str, file_name: str, windows: bool) -> str:
    path = f"{mount_path.rstrip('/')}/{file_name}"
    return "C:" + path.replace("/", "\\") if windows else path


def escape_pointer(token: str) -> str:
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def mutate(pod: Pod, identity: Identity, settings: MutationSettings) -> Mutation:
    """The operations that give `pod` the `identity`, with warnings for what the user should fix."""
    if pod_is_skipped(pod, settings):
        return Mutation(patch=[], pod_skipped=True)
    spec = pod.pod_spec
    keys = settings.keys
    annotations = pod.meta.annotations or {}
    warnings: list[str] = []

    expiration = identity.token_expiration
    raw_expiration = annotations.get(keys.token_expiration)
    if raw_expiration is not None:
        parsed, warning = parse_token_expiration(
            raw_expiration, where=f"pod {pod.display_name} annotation token-expiration"
        )
        if warning:
            warnings.append(warning)
        if parsed is not None:
            expiration = parsed

    injection = _injection(identity, settings, is_windows(spec))
    volume_name = injection.volume_name

    skip_list = annotations.get(keys.skip_containers)
    skipped_names = parse_name_list(skip_list) if skip_list else frozenset()
    patch: list[Operation] = []
    outcomes: list[ContainerOutcome] = []
    volume_needed = False
    for field, init in (("initContainers", True), ("containers", False)):
        for index, container in enumerate(getattr(spec, field) or ()):
            outcome = _mutate_container(
                container,
                path=f"/spec/{field}/{index}",
                init=init,
                skipped=container.name in skipped_names,
                injection=injection,
                patch=patch,
            )
            if outcome.mount is MountOutcome.PATH_CONFLICT:
                warnings.append(
                    f"container {container.name!r} already mounts another volume at {injection.mount_path}; "
                    f"the {volume_name} token volume was not mounted there"
                )
            outcomes.append(outcome)
            volume_needed = volume_needed or outcome.mount in (MountOutcome.ADDED, MountOutcome.EXISTS)

    if volume_needed and not any(volume.name == volume_name for volume in spec.volumes or ()):
        volume = {
            "name": volume_name,
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": identity.audience,
                            "expirationSeconds": expiration,
                            "path": injection.file_name,
                        }
                    }
                ]
            },
        }
        _append(patch, parent="/spec/volumes", present=spec.volumes is not None, value=volume)

    if patch and identity.mode is Mode.POD_IDENTITY:
        _add_pod_identity_label(pod, settings=settings, patch=patch)
    return Mutation(patch=patch, warnings=tuple(warnings), containers=tuple(outcomes))


def _mutate_container(
    container: Container,
    *,
    path: str,
    init: bool,
    skipped: bool,
    injection: _Injection,
    patch: list[Operation],
) -> ContainerOutcome:
    if skipped:
        return ContainerOutcome(name=container.name, init=init, skipped=Skip.SKIP_CONTAINERS)
    if container.env:
        present = {variable.name for variable in container.env}
        credentials_set = not injection.credential_keys.isdisjoint(present)
        region_set = not _REGION_KEY_SET.isdisjoint(present)
        sts_set = STS_REGIONAL_ENDPOINTS in present
        if credentials_set and region_set and sts_set:
            return ContainerOutcome(name=container.name, init=init, skipped=Skip.ALREADY_CONFIGURED)
        additions = [
            *(() if sts_set else injection.sts_env),
            *(() if region_set else injection.region_env),
            *(() if credentials_set else injection.credential_env),
        ]
    else:
        additions = [*injection.sts_env, *injection.region_env, *injection.credential_env]
    if additions:
        values = [{"name": name, "value": value} for name, value in additions]
        if container.env is None:
            patch.append({"op": "add", "path": f"{path}/env", "value": values})
        else:
            element = f"{path}/env/-"
            patch.extend({"op": "add", "path": element, "value": value} for value in values)

    mount = MountOutcome.ADDED
    for existing in container.volumeMounts or ():
        if existing.name == injection.volume_name:
            mount = MountOutcome.EXISTS
            break
        if existing.mountPath.rstrip("/") == injection.mount_path_key:
            mount = MountOutcome.PATH_CONFLICT
    if mount is MountOutcome.ADDED:
        value = {"name": injection.volume_name, "mountPath": injection.mount_path, "readOnly": True}
        _append(patch, parent=f"{path}/volumeMounts", present=container.volumeMounts is not None, value=value)
    return ContainerOutcome(
        name=container.name, init=init, added_env=tuple(name for name, _ in additions), mount=mount
    )


def _append(patch: list[Operation], *, parent: str, present: bool, value: Any) -> None:
    """Append to an array, creating it when the pod does not have it yet."""
    if present:
        patch.append({"op": "add", "path": f"{parent}/-", "value": value})
    else:
        patch.append({"op": "add", "path": parent, "value": [value]})


def _add_pod_identity_label(pod: Pod, *, settings: MutationSettings, patch: list[Operation]) -> None:
    key = settings.keys.pod_identity
    if pod.metadata is None:
        patch.append({"op": "add", "path": "/metadata", "value": {"labels": {key: "enabled"}}})
    elif pod.metadata.labels is None:
        patch.append({"op": "add", "path": "/metadata/labels", "value": {key: "enabled"}})
    elif pod.metadata.labels.get(key) != "enabled":
        patch.append({"op": "add", "path": f"/metadata/labels/{escape_pointer(key)}", "value": "enabled"})
