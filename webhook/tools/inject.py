"""Offline injection: apply the server's mutation to the pods and pod templates in manifests.

For previews, GitOps pipelines and debugging. It finds each pod (a Pod, or the template of a workload),
resolves its identity exactly as the server does and applies the same engine, so the output is what the
cluster would run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch
import msgspec

from webhook.engine.identity import Resolution, resolve_identity
from webhook.engine.mappings import RoleMappings
from webhook.engine.mutation import Mutation, Operation, mutate
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.pod_view import Pod, pod_from_object
from webhook.engine.settings import MutationSettings
from webhook.errors import ConfigurationError

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OfflineIdentitySources:
    """What the server would read from the cluster, read from files instead."""

    service_accounts: Mapping[tuple[str, str], Mapping[str, str]] | None
    """None when no ServiceAccount file was given."""
    mappings: RoleMappings
    pod_identities: PodIdentityAssociations


@dataclass(frozen=True, slots=True, kw_only=True)
class PodPatch:
    """The patch of one pod, with paths relative to the object that holds it (ready for `kubectl patch`):
    the document, or item `item` of a `List` document."""

    document: int
    item: int | None
    kind: str
    namespace: str
    name: str
    patch: list[Operation]
    warnings: tuple[str, ...]


def pods_in(document: Any) -> Iterator[tuple[int | None, dict[str, Any], str, dict[str, Any]]]:
    """(List item index or None, object holding the pod, JSON pointer to the pod within that object, pod) of
    each pod or pod template in a document, the items of a `List` (as kubectl prints them) included."""
    if not isinstance(document, dict):
        return
    kind = document.get("kind")
    if kind is not None and str(kind).endswith("List") and isinstance(document.get("items"), list):
        for index, item in enumerate(document["items"]):
            for pointer, pod in _pod_of(item):
                yield index, item, pointer, pod
        return
    for pointer, pod in _pod_of(document):
        yield None, document, pointer, pod


def _pod_of(holder: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(holder, dict):
        return
    path = TEMPLATE_PATHS.get(str(holder.get("kind")))
    if path is None:
        return
    target: Any = holder
    for key in path:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        yield "".join(f"/{key}" for key in path), target


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundPod:
    """A pod found in a manifest, with the names the server would see for it."""

    item: int | None
    """Which item of a `List` document holds it; None when the document itself does."""
    pointer: str
    """Where the pod sits in the object that holds it (empty for a bare Pod)."""
    source: dict[str, Any]
    """The pod's JSON as written; patches apply to it."""
    pod: Pod
    kind: str
    """The kind of the object that holds it."""
    name: str
    namespace: str


def found_pods(document: Any, *, index: int, default_namespace: str) -> Iterator[FoundPod]:
    """Every pod in a document, named and placed in a namespace as the API server would place it: by its
    own metadata, else by the object holding it (a workload, or a `List` item)."""
    for item, holder, pointer, source in pods_in(document):
        where = f"/items/{item}{pointer}" if item is not None else pointer
        try:
            pod = pod_from_object(source)
        except msgspec.ValidationError as error:
            raise ConfigurationError(
                f"document {index}: pod at {where or '/'} is malformed: {error}"
            ) from error
        owner = holder.get("metadata") or {}
        yield FoundPod(
            item=item,
            pointer=pointer,
            source=source,
            pod=pod,
            kind=str(holder.get("kind")),
            name=pod.meta.name or owner.get("name") or pod.display_name,
            # A controller makes a template's pods in its own namespace, whatever the template says.
            namespace=(owner.get("namespace") if pointer else pod.meta.namespace) or default_namespace,
        )


def resolve_and_mutate(
    pod: Pod,
    *,
    namespace: str,
    annotations: Mapping[str, str] | None,
    mappings: RoleMappings,
    pod_identities: PodIdentityAssociations,
    settings: MutationSettings,
) -> tuple[Resolution, Mutation]:
    """The server's two steps for one pod, for the commands that run without it (`inject`, `explain`)."""
    resolution = resolve_identity(
        namespace=namespace,
        service_account=pod.service_account_name,
        annotations=annotations,
        mappings=mappings,
        pod_identities=pod_identities,
        settings=settings,
    )
    mutation = mutate(pod, resolution.identity, settings) if resolution.identity else Mutation()
    return resolution, mutation


def inject_document(
    document: Any,
    *,
    index: int,
    default_namespace: str,
    sources: OfflineIdentitySources,
    settings: MutationSettings,
) -> list[PodPatch]:
    """Mutate every pod in `document` in place and return what was done to each."""
    results = []
    for found in found_pods(document, index=index, default_namespace=default_namespace):
        namespace, account = found.namespace, found.pod.service_account_name
        annotations = (sources.service_accounts or {}).get((namespace, account))
        resolution, mutation = resolve_and_mutate(
            found.pod,
            namespace=namespace,
            annotations=annotations,
            mappings=sources.mappings,
            pod_identities=sources.pod_identities,
            settings=settings,
        )
        warnings = [*resolution.warnings, *mutation.warnings]
        if annotations is None and resolution.identity is None:
            warnings.append(
                f"serviceaccount {namespace}/{account} is not in the ServiceAccount file; left unchanged"
                if sources.service_accounts is not None
                else f"no ServiceAccount file given, so {namespace}/{account} has no role; left unchanged"
            )
        patch = mutation.patch
        if patch:
            jsonpatch.apply_patch(found.source, copy.deepcopy(patch), in_place=True)
        results.append(
            PodPatch(
                document=index,
                item=found.item,
                kind=found.kind,
                namespace=namespace,
                name=found.name,
                patch=[{**operation, "path": found.pointer + operation["path"]} for operation in patch],
                warnings=tuple(warnings),
            )
        )
    return results
