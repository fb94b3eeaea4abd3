"""Why the webhook will (or will not) change a pod, in words, from the same engine the server runs.

Nothing here decides what the webhook does: `identity.resolve_identity` and `mutation.mutate` do, exactly
as in the server. This module only reads their outcomes and the inputs they looked at, and names the
condition behind each outcome, including the mistakes that look right to a person but not to the
webhook: an annotation key one typo away, a role on the pod instead of its ServiceAccount, a mapping
the ServiceAccount's own annotation overrides.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from webhook.cluster.kube_json import KubeJson
from webhook.engine.annotation_names import (
    POD_ANNOTATIONS,
    POD_LABELS,
    ROLE_ARN_VALUE,
    WEBHOOK_LABELS,
    near_misses,
    serviceaccount_annotation_notes,
)
from webhook.engine.annotation_values import parse_name_list
from webhook.engine.identity import Identity, Mode, Resolution, Source, describe_identity
from webhook.engine.mappings import RoleMappings
from webhook.engine.mutation import (
    IRSA_KEYS,
    POD_IDENTITY_KEYS,
    MountOutcome,
    Mutation,
    Operation,
    Skip,
    pod_is_skipped,
)
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.pod_view import Pod
from webhook.engine.settings import IRSA_VOLUME_NAME, MutationSettings
from webhook.errors import ServiceAccountSourceError
from webhook.tools.inject import found_pods, resolve_and_mutate

ServiceAccountLookup = Callable[[str, str], Mapping[str, str] | None]
"""(namespace, name) → all annotations of the ServiceAccount, or None when it does not exist."""


class Verdict(enum.Enum):
    """The outcome for the whole pod; the values are the machine-readable codes of `--output json`."""

    MUTATED = "mutated"
    SKIP_LABEL = "skip-label"
    NO_SERVICE_ACCOUNT = "serviceaccount-not-found"
    NO_ROLE = "no-role"
    NOTHING_TO_CHANGE = "nothing-to-change"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerExplanation:
    name: str
    init: bool
    added_env: tuple[tuple[str, str], ...]
    """(name, value) of each variable the webhook appends, in order."""
    skipped: Skip | None
    mount: MountOutcome | None
    reasons: tuple[str, ...]
    """Plain sentences: what is done to the container and why, or why nothing is."""

    @property
    def changed(self) -> bool:
        return bool(self.added_env) or self.mount is MountOutcome.ADDED


@dataclass(frozen=True, slots=True, kw_only=True)
class PodExplanation:
    kind: str
    namespace: str
    name: str
    service_account: str
    verdict: Verdict
    reasons: tuple[str, ...]
    """Why the verdict: which identity applies and where it comes from, or which condition stopped it."""
    identity: Identity | None
    source: Source
    notes: tuple[str, ...]
    """Things the user probably did not mean: typos, ignored annotations, overridden mappings."""
    containers: tuple[ContainerExplanation, ...]
    pod_changes: tuple[str, ...]
    warnings: tuple[str, ...]
    patch: list[Operation]


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityInputs:
    """Everything besides the pod that decides its identity, as the server would see it."""

    service_accounts: ServiceAccountLookup
    mappings: RoleMappings
    pod_identities: PodIdentityAssociations
    settings: MutationSettings
    where: str
    """Where ServiceAccounts were looked up, for "not found in ..." (a file name, or "the cluster")."""


def explain_document(
    document: Any, *, index: int, default_namespace: str, inputs: IdentityInputs
) -> list[PodExplanation]:
    """Explain every pod and pod template in one manifest document (a `List`'s items included)."""
    return [
        explain_pod(
            found.source,
            pod=found.pod,
            kind=found.kind,
            name=found.name,
            namespace=found.namespace,
            inputs=inputs,
        )
        for found in found_pods(document, index=index, default_namespace=default_namespace)
    ]


def explain_pod(
    pod_object: dict[str, Any], *, pod: Pod, kind: str, name: str, namespace: str, inputs: IdentityInputs
) -> PodExplanation:
    settings = inputs.settings
    account = pod.service_account_name
    annotations = inputs.service_accounts(namespace, account)
    resolution, mutation = resolve_and_mutate(
        pod,
        namespace=namespace,
        annotations=annotations,
        mappings=inputs.mappings,
        pod_identities=inputs.pod_identities,
        settings=settings,
    )
    mutated = (
        jsonpatch.apply_patch(copy.deepcopy(pod_object), mutation.patch) if mutation.patch else pod_object
    )
    verdict, reasons = _verdict(
        pod,
        resolution=resolution,
        mutation=mutation,
        annotations=annotations,
        account=f"{namespace}/{account}",
        inputs=inputs,
    )
    return PodExplanation(
        kind=kind,
        namespace=namespace,
        name=name,
        service_account=account,
        verdict=verdict,
        reasons=reasons,
        identity=resolution.identity,
        source=resolution.source,
        notes=tuple(
            _notes(
                pod, resolution=resolution, annotations=annotations or {}, namespace=namespace, inputs=inputs
            )
        ),
        containers=tuple(
            _containers(pod, mutated, mutation=mutation, identity=resolution.identity, settings=settings)
        ),
        pod_changes=tuple(_pod_changes(pod_object, mutated)),
        warnings=resolution.warnings + mutation.warnings,
        patch=mutation.patch,
    )


def _verdict(
    pod: Pod,
    *,
    resolution: Resolution,
    mutation: Mutation,
    annotations: Mapping[str, str] | None,
    account: str,
    inputs: IdentityInputs,
) -> tuple[Verdict, tuple[str, ...]]:
    settings = inputs.settings
    if pod_is_skipped(pod, settings):
        label = settings.annotation("skip-pod-identity-webhook")
        return Verdict.SKIP_LABEL, (f"the pod has the label {label}, so the webhook leaves it alone",)
    role_key = settings.annotation("role-arn")
    if resolution.identity is None:
        if annotations is None:
            return Verdict.NO_SERVICE_ACCOUNT, (
                f"ServiceAccount {account} was not found in {inputs.where}, so there is no role to inject",
            )
        role = annotations.get(role_key)
        why = (
            f"ServiceAccount {account} has an empty {role_key} annotation"
            if role is not None
            else f"ServiceAccount {account} has no {role_key} annotation"
        )
        return Verdict.NO_ROLE, (
            f"{why}, no operator mapping and no Pod Identity association, so it has no AWS identity",
        )
    described = describe_identity(resolution, role_key=role_key)
    if not mutation.patch:
        volume, _ = _token_volume_and_path(resolution.identity, settings)
        return Verdict.NOTHING_TO_CHANGE, (
            described,
            f"every container is skipped or already configured and the pod has the {volume} volume, "
            "so the webhook changes nothing",
        )
    return Verdict.MUTATED, (described,)


def _token_volume_and_path(identity: Identity, settings: MutationSettings) -> tuple[str, str]:
    """The name of the identity's token volume and where containers mount it."""
    if identity.mode is Mode.POD_IDENTITY:
        return (
            settings.container_credentials_token_volume_name,
            settings.container_credentials_token_mount_path,
        )
    return IRSA_VOLUME_NAME, settings.token_mount_path


def _notes(
    pod: Pod,
    *,
    resolution: Resolution,
    annotations: Mapping[str, str],
    namespace: str,
    inputs: IdentityInputs,
) -> list[str]:
    settings = inputs.settings
    prefix = settings.annotation_prefix
    role_key = settings.annotation("role-arn")
    account = pod.service_account_name
    notes = serviceaccount_annotation_notes(annotations, prefix=prefix)
    pod_annotations = pod.meta.annotations or {}
    notes += [
        f"the pod's annotation {found} is not read: did you mean {meant}?"
        for found, meant in near_misses(pod_annotations, prefix=prefix, names=POD_ANNOTATIONS)
    ]
    notes += [
        f"the pod's label {found} is not read: did you mean {meant}?"
        for found, meant in near_misses(
            pod.meta.labels or {}, prefix=prefix, names=POD_LABELS, known=WEBHOOK_LABELS
        )
    ]
    if any(key == role_key or ROLE_ARN_VALUE.match(value.strip()) for key, value in pod_annotations.items()):
        notes.append(
            f"a role on the pod is ignored: a pod cannot choose its role; annotate its ServiceAccount "
            f"{namespace}/{account} with {role_key}"
        )
    mapping = inputs.mappings.lookup(namespace, account)
    if resolution.source is Source.ANNOTATION and mapping is not None:
        notes.append(
            f"the operator mapping {mapping.key!r} (role {mapping.role_arn}) is not used: the "
            f"ServiceAccount's own {role_key} annotation wins"
        )
    if resolution.source is Source.POD_IDENTITY_ASSOCIATION:
        if annotations.get(role_key):
            notes.append(
                f"the ServiceAccount's {role_key} annotation ({annotations[role_key]}) is not used: its Pod "
                "Identity association wins"
            )
        if mapping is not None:
            notes.append(
                f"the operator mapping {mapping.key!r} is not used: the Pod Identity association wins"
            )
    notes += _unknown_skipped_containers(pod, settings=settings)
    return notes


def _unknown_skipped_containers(pod: Pod, *, settings: MutationSettings) -> list[str]:
    key = settings.annotation("skip-containers")
    listed = (pod.meta.annotations or {}).get(key)
    if listed is None:
        return []
    spec = pod.pod_spec
    present = {container.name for container in (*(spec.initContainers or ()), *(spec.containers or ()))}
    return [
        f"{key} names {name!r}, which is not a container of this pod"
        for name in sorted(parse_name_list(listed) - present)
    ]


def _containers(
    pod: Pod,
    mutated: dict[str, Any],
    *,
    mutation: Mutation,
    identity: Identity | None,
    settings: MutationSettings,
) -> list[ContainerExplanation]:
    if identity is None or mutation.pod_skipped:
        return []
    credential_keys = POD_IDENTITY_KEYS if identity.mode is Mode.POD_IDENTITY else IRSA_KEYS
    spec = pod.pod_spec
    original_env = {
        container.name: [variable.name for variable in container.env or ()]
        for container in (*(spec.initContainers or ()), *(spec.containers or ()))
    }
    mutated_env = {
        container.get("name", ""): {
            variable.get("name"): variable.get("value", "") for variable in container.get("env") or ()
        }
        for field in ("initContainers", "containers")
        for container in (mutated.get("spec") or {}).get(field) or ()
    }
    volume, mount_path = _token_volume_and_path(identity, settings)
    explanations = []
    for outcome in mutation.containers:
        added = tuple((name, mutated_env.get(outcome.name, {}).get(name, "")) for name in outcome.added_env)
        reasons = []
        if outcome.skipped is Skip.SKIP_CONTAINERS:
            reasons.append(
                f"left alone: named in the pod's {settings.annotation('skip-containers')} annotation"
            )
        elif outcome.skipped is Skip.ALREADY_CONFIGURED:
            reasons.append("left alone: its env already sets the credentials, the region and the STS setting")
        else:
            reasons += [f"adds {name}={value}" for name, value in added]
            own = [key for key in credential_keys if key in original_env.get(outcome.name, ())]
            if own:
                reasons.append(
                    f"adds no credentials: its env already sets {', '.join(own)}, so it keeps the "
                    "credentials it chose"
                )
            reasons.append(_mount_reason(outcome.mount, volume=volume, mount_path=mount_path))
        explanations.append(
            ContainerExplanation(
                name=outcome.name,
                init=outcome.init,
                added_env=added,
                skipped=outcome.skipped,
                mount=outcome.mount,
                reasons=tuple(reasons),
            )
        )
    return explanations


def _mount_reason(mount: MountOutcome | None, *, volume: str, mount_path: str) -> str:
    if mount is MountOutcome.ADDED:
        return f"mounts the {volume} volume read-only at {mount_path}"
    if mount is MountOutcome.EXISTS:
        return f"already mounts the {volume} volume"
    return f"does not mount the token: another volume is already mounted at {mount_path}"


def _pod_changes(original: dict[str, Any], mutated: dict[str, Any]) -> list[str]:
    """Pod-level additions, read from the patched pod: new volumes and new labels."""
    if mutated is original:
        return []
    before = {volume.get("name") for volume in (original.get("spec") or {}).get("volumes") or ()}
    changes = []
    for volume in (mutated.get("spec") or {}).get("volumes") or ():
        if volume.get("name") in before:
            continue
        tokens = [
            source["serviceAccountToken"]
            for source in (volume.get("projected") or {}).get("sources") or ()
            if "serviceAccountToken" in source
        ]
        described = ", ".join(
            f"a ServiceAccount token for audience {token.get('audience')}, "
            f"valid {token.get('expirationSeconds')}s, in file {token.get('path')}"
            for token in tokens
        )
        changes.append(f"adds the projected volume {volume.get('name')}: {described}")
    labels_before = (original.get("metadata") or {}).get("labels") or {}
    labels_after = (mutated.get("metadata") or {}).get("labels") or {}
    changes += [
        f"adds the label {key}={value}"
        for key, value in labels_after.items()
        if labels_before.get(key) != value
    ]
    return changes


def cluster_service_accounts(cluster: KubeJson) -> ServiceAccountLookup:
    """Look ServiceAccounts up in the cluster, each once: all their annotations, or None when absent."""
    seen: dict[tuple[str, str], Mapping[str, str] | None] = {}

    def lookup(namespace: str, name: str) -> Mapping[str, str] | None:
        if (namespace, name) not in seen:
            path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"
            try:
                found = cluster.get(path)
            except ApiException as error:
                raise ServiceAccountSourceError(
                    f"the API server answered {error.status} {error.reason} when asked for ServiceAccount "
                    f"{namespace}/{name}"
                ) from error
            except (HTTPError, OSError) as error:
                raise ServiceAccountSourceError(f"cannot reach the API server: {error}") from error
            seen[(namespace, name)] = (
                None if found is None else (found.get("metadata") or {}).get("annotations") or {}
            )
        return seen[(namespace, name)]

    return lookup
