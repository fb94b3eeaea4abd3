"""The mutation: a pure function from (pod as received, identity, settings) to RFC 6902 operations.

Operations are granular appends and adds against the JSON the API server sent, never a re-serialised array,
so fields this code does not model survive. Running it again on its own output yields no operations, which
makes it safe under `reinvocationPolicy: IfNeeded`. `serve`, `inject` and `explain` all call this module.

The patch comes out as JSON bytes, joined from fragments each identity encodes once: admission sends them
as they are instead of building a dict per operation for the encoder to turn back into JSON
(benchmarks/hot_path.md). `Mutation.patch` decodes them for callers that want Python objects.
"""

from __future__ import annotations

import enum
import functools
import itertools
from typing import Any

import msgspec

from webhook.engine.annotation_values import parse_name_list, parse_token_expiration
from webhook.engine.identity import Identity, Mode
from webhook.engine.pod_view import Container, Pod, PodSpec
from webhook.engine.settings import IRSA_TOKEN_FILE, IRSA_VOLUME_NAME, MutationSettings

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
    patch_json: bytes = b""
    """The RFC 6902 document, or empty when the pod needs nothing."""
    warnings: tuple[str, ...] = ()
    containers: tuple[ContainerOutcome, ...] = ()
    pod_skipped: bool = False

    @property
    def patch(self) -> list[Operation]:
        """The operations as Python objects, new on every call so callers may change them."""
        return _decode_patch(self.patch_json) if self.patch_json else []


_encoder = msgspec.json.Encoder()
_decode_patch = msgspec.json.Decoder(list[Operation]).decode
_ADD = b'{"op":"add","path":"'
"""Every operation the engine makes is an add; fragments below continue it after the path's first bytes,
which are always `/spec` or `/spec/<field>/<index>`: no character there needs escaping in JSON."""
_NOTHING_SET = (False, False, False)


def _append_to(array: bytes, value: bytes) -> bytes:
    """The rest of an operation appending the encoded `value` to `array` under the path before it."""
    return b"/" + array + b'/-","value":' + value + b"}"


def _insert_first(array: bytes, value: bytes) -> bytes:
    """The rest of an operation inserting the encoded `value` at the start of `array`."""
    return b"/" + array + b'/0","value":' + value + b"}"


def _create(array: bytes, values: bytes) -> bytes:
    """The rest of an operation adding `array`, holding the encoded, comma-separated `values`."""
    return b"/" + array + b'","value":[' + values + b"]}"


class _EnvPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The variables one container gets, given which kinds it already sets, as fragments after its path."""

    names: tuple[str, ...]
    append: tuple[bytes, ...]
    """One operation per variable, for a container that has an `env` array."""
    create: bytes
    """One operation adding the `env` array, for a container without one."""


class _Injection(msgspec.Struct, frozen=True, kw_only=True):
    """What one identity injects, worked out once per (identity, settings, windows) and shared by every
    container and every pod of that identity: admission builds it for each of thousands of pods."""

    volume_name: str
    mount_path: str
    mount_path_key: str
    """The mount path without a trailing slash, for comparing with the paths already mounted."""
    file_name: str
    credential_keys: frozenset[str]
    env_plans: dict[tuple[bool, ...], _EnvPlan]
    """Keyed by which of (STS setting, region, credentials) the container already sets."""
    mount_append: bytes
    mount_create: bytes
    volume: bytes
    """The token volume, for the identity's own token expiration."""


@functools.lru_cache(maxsize=1024)
def _injection(identity: Identity, settings: MutationSettings, windows: bool) -> _Injection:
    if identity.mode is Mode.POD_IDENTITY:
        volume_name = settings.container_credentials_token_volume_name
        mount_path = settings.container_credentials_token_mount_path
        file_name = settings.container_credentials_token_path
        keys, first = POD_IDENTITY_KEYS, settings.container_credentials_full_uri
    else:
        volume_name, mount_path, file_name = IRSA_VOLUME_NAME, settings.token_mount_path, IRSA_TOKEN_FILE
        keys, first = IRSA_KEYS, identity.role_arn
    token_path = token_file_path(mount_path=mount_path, file_name=file_name, windows=windows)
    region = settings.aws_default_region
    kinds = (
        ((STS_REGIONAL_ENDPOINTS, "regional"),) if identity.regional_sts else (),
        tuple((key, region) for key in REGION_KEYS) if region else (),
        tuple(zip(keys, (first, token_path), strict=True)),
    )
    mount = _encoder.encode({"name": volume_name, "mountPath": mount_path, "readOnly": True})
    return _Injection(
        volume_name=volume_name,
        mount_path=mount_path,
        mount_path_key=mount_path.rstrip("/"),
        file_name=file_name,
        credential_keys=frozenset(keys),
        env_plans={
            already_set: _env_plan(
                tuple(
                    pair for kind, done in zip(kinds, already_set, strict=True) if not done for pair in kind
                )
            )
            for already_set in itertools.product((False, True), repeat=len(kinds))
        },
        mount_append=_append_to(b"volumeMounts", mount),
        mount_create=_create(b"volumeMounts", mount),
        volume=_token_volume(
            name=volume_name, audience=identity.audience, expiration=identity.token_expiration, path=file_name
        ),
    )


def _token_volume(*, name: str, audience: str, expiration: int, path: str) -> bytes:
    source = {"serviceAccountToken": {"audience": audience, "expirationSeconds": expiration, "path": path}}
    return _encoder.encode({"name": name, "projected": {"sources": [source]}})


def _env_plan(additions: tuple[tuple[str, str], ...]) -> _EnvPlan:
    values = [_encoder.encode({"name": name, "value": value}) for name, value in additions]
    return _EnvPlan(
        names=tuple(name for name, _ in additions),
        append=tuple(_append_to(b"env", value) for value in values),
        create=_create(b"env", b",".join(values)),
    )


def pod_is_skipped(pod: Pod, settings: MutationSettings) -> bool:
    """Pods labelled `<prefix>/skip-pod-identity-webhook` (any value) are never touched."""
    labels = pod.meta.labels
    return labels is not None and settings.keys.skip_pod in labels


def is_windows(spec: PodSpec) -> bool:
    """True when the pod can only run on Windows nodes, so the token path must be a Windows path."""
    if spec.os is not None and spec.os.name == WINDOWS:
        return True
    selector = spec.nodeSelector
    if selector and any(selector.get(label) == WINDOWS for label in OS_LABELS):
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
        return Mutation(pod_skipped=True)
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
    patch: list[bytes] = []
    outcomes: list[ContainerOutcome] = []
    for field, init in ((b"initContainers", True), (b"containers", False)):
        for index, container in enumerate((spec.initContainers if init else spec.containers) or ()):
            outcome = _mutate_container(
                container,
                path=_ADD + b"/spec/%b/%d" % (field, index),
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

    # As the reference does, the volume is added even when no container mounts it, and first in an
    # existing list: the pod made here is the pod the reference makes.
    if not any(volume.name == volume_name for volume in spec.volumes or ()):
        volume = (
            injection.volume
            if expiration == identity.token_expiration
            else _token_volume(
                name=volume_name, audience=identity.audience, expiration=expiration, path=injection.file_name
            )
        )
        rest = _create(b"volumes", volume) if spec.volumes is None else _insert_first(b"volumes", volume)
        patch.append(_ADD + b"/spec" + rest)

    if patch and identity.mode is Mode.POD_IDENTITY:
        _add_pod_identity_label(pod, settings=settings, patch=patch)
    return Mutation(
        patch_json=b"[" + b",".join(patch) + b"]" if patch else b"",
        warnings=tuple(warnings),
        containers=tuple(outcomes),
    )


def _mutate_container(
    container: Container,
    *,
    path: bytes,
    init: bool,
    skipped: bool,
    injection: _Injection,
    patch: list[bytes],
) -> ContainerOutcome:
    """`path` is the start of an operation on this container, up to its JSON Pointer."""
    if skipped:
        return ContainerOutcome(name=container.name, init=init, skipped=Skip.SKIP_CONTAINERS)
    if container.env:
        present = {variable.name for variable in container.env}
        state = (
            STS_REGIONAL_ENDPOINTS in present,
            not _REGION_KEY_SET.isdisjoint(present),
            not injection.credential_keys.isdisjoint(present),
        )
        if all(state):
            return ContainerOutcome(name=container.name, init=init, skipped=Skip.ALREADY_CONFIGURED)
        plan = injection.env_plans[state]
    else:
        plan = injection.env_plans[_NOTHING_SET]
    if plan.names:
        if container.env is None:
            patch.append(path + plan.create)
        else:
            patch.extend([path + operation for operation in plan.append])

    mount = MountOutcome.ADDED
    for existing in container.volumeMounts or ():
        if existing.name == injection.volume_name:
            mount = MountOutcome.EXISTS
            break
        if existing.mountPath.rstrip("/") == injection.mount_path_key:
            mount = MountOutcome.PATH_CONFLICT
    if mount is MountOutcome.ADDED:
        patch.append(
            path + (injection.mount_create if container.volumeMounts is None else injection.mount_append)
        )
    return ContainerOutcome(name=container.name, init=init, added_env=plan.names, mount=mount)


def _add(patch: list[bytes], *, path: str, value: Any) -> None:
    """An operation the engine makes at most once per pod, so encoded on the spot."""
    patch.append(_encoder.encode({"op": "add", "path": path, "value": value}))


def _add_pod_identity_label(pod: Pod, *, settings: MutationSettings, patch: list[bytes]) -> None:
    key = settings.keys.pod_identity
    if pod.metadata is None:
        _add(patch, path="/metadata", value={"labels": {key: "enabled"}})
    elif pod.metadata.labels is None:
        _add(patch, path="/metadata/labels", value={key: "enabled"})
    elif pod.metadata.labels.get(key) != "enabled":
        _add(patch, path=f"/metadata/labels/{escape_pointer(key)}", value="enabled")
