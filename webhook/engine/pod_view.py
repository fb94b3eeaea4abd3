"""The parts of a Pod the mutation reads, as typed structs decoded straight from the request bytes.

Only these fields are decoded; everything else in the pod stays in the JSON the API server sent and is
never re-serialised, so fields this code does not know about survive untouched.

The structs are `gc=False`: they hold only strings, lists and dicts decoded from JSON, so they can never be
part of a reference cycle, and leaving them out of the garbage collector's lists made decoding a review a
quarter cheaper.
"""

from __future__ import annotations

from typing import Any

import msgspec


class EnvVar(msgspec.Struct, frozen=True, gc=False):
    name: str = ""


class VolumeMount(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    mountPath: str = ""  # noqa: N815 - Kubernetes field name


class Container(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    env: list[EnvVar] | None = None
    volumeMounts: list[VolumeMount] | None = None  # noqa: N815


class Volume(msgspec.Struct, frozen=True, gc=False):
    name: str = ""


class NodeSelectorRequirement(msgspec.Struct, frozen=True, gc=False):
    key: str = ""
    operator: str = ""
    values: list[str] | None = None


class NodeSelectorTerm(msgspec.Struct, frozen=True, gc=False):
    matchExpressions: list[NodeSelectorRequirement] | None = None  # noqa: N815


class NodeSelector(msgspec.Struct, frozen=True, gc=False):
    nodeSelectorTerms: list[NodeSelectorTerm] | None = None  # noqa: N815


class NodeAffinity(msgspec.Struct, frozen=True, gc=False):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None  # noqa: N815


class Affinity(msgspec.Struct, frozen=True, gc=False):
    nodeAffinity: NodeAffinity | None = None  # noqa: N815


class PodOS(msgspec.Struct, frozen=True, gc=False):
    name: str = ""


class PodSpec(msgspec.Struct, frozen=True, gc=False):
    serviceAccountName: str | None = None  # noqa: N815
    serviceAccount: str | None = None  # noqa: N815 - deprecated alias the API server still fills
    containers: list[Container] | None = None
    initContainers: list[Container] | None = None  # noqa: N815
    volumes: list[Volume] | None = None
    nodeSelector: dict[str, str] | None = None  # noqa: N815
    affinity: Affinity | None = None
    os: PodOS | None = None


class ObjectMeta(msgspec.Struct, frozen=True, gc=False):
    name: str | None = None
    generateName: str | None = None  # noqa: N815
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


_NO_METADATA = ObjectMeta()
_NO_SPEC = PodSpec()


class Pod(msgspec.Struct, frozen=True, gc=False):
    """A pod, or a pod template: templates in `inject` input may lack metadata, so both parts are optional."""

    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None

    @property
    def meta(self) -> ObjectMeta:
        return self.metadata or _NO_METADATA

    @property
    def pod_spec(self) -> PodSpec:
        return self.spec or _NO_SPEC

    @property
    def service_account_name(self) -> str:
        """The ServiceAccount the pod runs as; the API server's admission defaults an empty one to `default`."""
        spec = self.pod_spec
        return spec.serviceAccountName or spec.serviceAccount or "default"

    @property
    def display_name(self) -> str:
        """A name for logs and warnings: pods from controllers only have `generateName` at admission."""
        meta = self.meta
        return meta.name or f"{meta.generateName or ''}<generated>"


def pod_from_object(obj: Any) -> Pod:
    """Read a pod already parsed into Python objects (YAML or JSON from `inject`, `explain`, tests).

    Raises msgspec.ValidationError when a field the mutation reads has the wrong type.
    """
    return msgspec.convert(obj, Pod)
