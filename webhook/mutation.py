"""The mutation: a pure function from (pod as received, identity, settings) to RFC 6902 operations.

Operations are granular appends and adds against the JSON the API server sent, never a re-serialised array,
so fields this code does not model survive. Running it again on its own output yields no operations, which
makes it safe under `reinvocationPolicy: IfNeeded`. `serve`, `inject` and `explain` all call this module.
"""

from __future__ import annotations

import enum
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
    """The per-mode constants of one mutation, computed once and shared by every container."""

    volume_name: str
    mount_path: str
    credential_env: tuple[tuple[str, str], ...]
    region: str
    regional_sts: bool


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

    windows = is_windows(spec)
    if identity.mode is Mode.POD_IDENTITY:
        volume_name = settings.container_credentials_volume_name
        mount_path = settings.container_credentials_mount_path
        file_name = settings.container_credentials_token_path
        token_path = token_file_path(mount_path=mount_path, file_name=file_name, windows=windows)
        credential_env = tuple(
            zip(POD_IDENTITY_KEYS, (settings.container_credentials_full_uri, token_path), strict=True)
        )
    else:
        volume_name = IRSA_VOLUME_NAME
        mount_path = settings.token_mount_path
        file_name = IRSA_TOKEN_FILE
        token_path = token_file_path(mount_path=mount_path, file_name=file_name, windows=windows)
        credential_env = tuple(zip(IRSA_KEYS, (identity.role_arn, token_path), strict=True))
    injection = _Injection(
        volume_name=volume_name,
        mount_path=mount_path,
        credential_env=credential_env,
        region=settings.aws_default_region,
        regional_sts=identity.regional_sts,
    )

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
                    f"container {container.name!r} already mounts another volume at {mount_path}; "
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
                            "path": file_name,
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
    present = {variable.name for variable in container.env or ()}
    credentials_set = any(key in present for key, _ in injection.credential_env)
    region_set = any(key in present for key in REGION_KEYS)
    sts_set = STS_REGIONAL_ENDPOINTS in present
    if credentials_set and region_set and sts_set:
        return ContainerOutcome(name=container.name, init=init, skipped=Skip.ALREADY_CONFIGURED)

    additions: list[tuple[str, str]] = []
    if injection.regional_sts and not sts_set:
        additions.append((STS_REGIONAL_ENDPOINTS, "regional"))
    if injection.region and not region_set:
        additions.extend((key, injection.region) for key in REGION_KEYS)
    if not credentials_set:
        additions.extend(injection.credential_env)
    if additions:
        values = [{"name": name, "value": value} for name, value in additions]
        if container.env is None:
            patch.append({"op": "add", "path": f"{path}/env", "value": values})
        else:
            patch.extend({"op": "add", "path": f"{path}/env/-", "value": value} for value in values)

    mounts = container.volumeMounts or ()
    wanted_path = injection.mount_path.rstrip("/")
    if any(mount.name == injection.volume_name for mount in mounts):
        mount = MountOutcome.EXISTS
    elif any(mount.mountPath.rstrip("/") == wanted_path for mount in mounts):
        mount = MountOutcome.PATH_CONFLICT
    else:
        mount = MountOutcome.ADDED
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
