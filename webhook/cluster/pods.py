"""Pods as they run in the cluster, listed page by page: what the missed-credentials finder and `audit` read.

Only the fields the mutation reads (the engine's pod view) and those that say whether and how a pod can be
replaced (owner, phase, deletion, creation time) are decoded; a list of every pod in a large cluster is
never held whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from kubernetes.client import ApiClient, CoreV1Api

from webhook.engine import pod_view

_LIST_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds for one page."""
_FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


class OwnerReference(msgspec.Struct, frozen=True):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class PodMeta(msgspec.Struct, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    creationTimestamp: str = ""  # noqa: N815 - Kubernetes field name
    deletionTimestamp: str | None = None  # noqa: N815
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[OwnerReference] | None = None  # noqa: N815


class PodStatus(msgspec.Struct, frozen=True):
    phase: str = ""


class ListedPod(msgspec.Struct, frozen=True):
    metadata: PodMeta = msgspec.field(default_factory=PodMeta)
    spec: pod_view.PodSpec | None = None
    status: PodStatus = msgspec.field(default_factory=PodStatus)

    @property
    def pod(self) -> pod_view.Pod:
        """The pod as the mutation reads it."""
        meta = self.metadata
        return pod_view.Pod(
            metadata=pod_view.ObjectMeta(
                name=meta.name, namespace=meta.namespace, labels=meta.labels, annotations=meta.annotations
            ),
            spec=self.spec,
        )

    @property
    def active(self) -> bool:
        """Running or about to: a finished pod or one being deleted will not use credentials again."""
        return self.metadata.deletionTimestamp is None and self.status.phase not in _FINISHED_PHASES

    @property
    def controller(self) -> OwnerReference | None:
        """The owner that re-creates the pod when it goes (ReplicaSet, StatefulSet, Job, ...), if any."""
        for owner in self.metadata.ownerReferences or ():
            if owner.controller:
                return owner
        return None

    @property
    def controller_name(self) -> str | None:
        """ "ReplicaSet web-5d4f", for messages."""
        owner = self.controller
        return None if owner is None else f"{owner.kind} {owner.name}"

    @property
    def created(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.metadata.creationTimestamp)
        except ValueError:
            return None


class _ListMeta(msgspec.Struct, frozen=True):
    continue_: str = msgspec.field(default="", name="continue")


class _Page(msgspec.Struct, frozen=True):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[msgspec.Raw] | None = None


_page_decoder = msgspec.json.Decoder(_Page)
T = TypeVar("T")


def list_pods(
    api_client: ApiClient, *, item_type: type[T], namespace: str | None = None, page_size: int = 500
) -> Iterator[T]:
    """Every pod of the cluster (or of `namespace`), decoded as `item_type`, one page in memory at a time.

    Raises the client's ApiException or urllib3's errors; callers say what they were doing.
    """
    core = CoreV1Api(api_client)
    item_decoder = msgspec.json.Decoder(item_type)
    token: str | None = None
    while True:
        arguments: dict[str, Any] = {
            "limit": page_size,
            "_continue": token,
            "_preload_content": False,
            "_request_timeout": _LIST_TIMEOUT,
        }
        response: Any = (  # the raw response: `_preload_content=False`
            core.list_namespaced_pod(namespace, **arguments)
            if namespace
            else core.list_pod_for_all_namespaces(**arguments)
        )
        try:
            page = _page_decoder.decode(response.data)
        finally:
            response.release_conn()
        for raw in page.items or ():
            yield item_decoder.decode(raw)
        token = page.metadata.continue_
        if not token:
            return
