"""Pods as the API server sends them, the engine run on them as the server runs it, and the result read back.

Every test goes through `inject` or `admit`: they apply the patch to the original JSON with jsonpatch and
check that the API server would accept the patched pod, so no test can pass on an operation list alone.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch

from tests.validation import NEWEST_VERSION, SUPPORTED_VERSIONS, assert_valid_pod
from webhook.engine.identity import Identity, Mode, resolve_identity
from webhook.engine.mappings import RoleMappings
from webhook.engine.mutation import Mutation, mutate
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.pod_view import pod_from_object
from webhook.engine.settings import MutationSettings

NAMESPACE = "shop"
SERVICE_ACCOUNT = "checkout"
ROLE_ARN = "arn:aws:iam::111122223333:role/checkout"
IRSA_MOUNT_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
IRSA_TOKEN_FILE = f"{IRSA_MOUNT_PATH}/token"
POD_IDENTITY_MOUNT_PATH = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
POD_IDENTITY_TOKEN_FILE = f"{POD_IDENTITY_MOUNT_PATH}/eks-pod-identity-token"
POD_IDENTITY_URI = "http://169.254.170.23/v1/credentials"
DEFAULTS = MutationSettings()
NATIVE_SIDECAR_VERSIONS = ("1.28", NEWEST_VERSION)
"""Init containers with restartPolicy Always exist from Kubernetes 1.28."""

Json = dict[str, Any]
EnvSpec = Mapping[str, str] | Sequence[Json]


def container(
    name: str = "app", *, env: EnvSpec | None = None, mounts: Mapping[str, str] | None = None, **fields: Any
) -> Json:
    """A container; `env` as {name: value} or as raw entries (for valueFrom), `mounts` as {volume: path}."""
    result: Json = {"name": name, "image": "public.ecr.aws/docker/library/busybox:1.36", **fields}
    if env is not None:
        result["env"] = (
            [{"name": key, "value": value} for key, value in env.items()]
            if isinstance(env, Mapping)
            else list(env)
        )
    if mounts is not None:
        result["volumeMounts"] = [{"name": volume, "mountPath": path} for volume, path in mounts.items()]
    return result


def pod(
    *containers: Json,
    init_containers: Sequence[Json] = (),
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    volumes: Sequence[Json] | None = None,
    service_account: str = SERVICE_ACCOUNT,
    **spec_fields: Any,
) -> Json:
    """A pod as admission sees it: `containers` default to one plain container named `app`."""
    metadata: Json = {"name": "checkout-7d9f", "namespace": NAMESPACE}
    if labels is not None:
        metadata["labels"] = dict(labels)
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    spec: Json = {"serviceAccountName": service_account, "containers": list(containers or (container(),))}
    if init_containers:
        spec["initContainers"] = list(init_containers)
    if volumes is not None:
        spec["volumes"] = list(volumes)
    spec.update(spec_fields)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def find_container(pod_json: Json, name: str) -> Json:
    """The container or init container called `name`."""
    spec = pod_json["spec"]
    matches = [c for c in (spec.get("initContainers") or []) + spec["containers"] if c["name"] == name]
    assert len(matches) == 1, f"no single container named {name!r}"
    found: Json = matches[0]
    return found


def empty_dir(name: str) -> Json:
    return {"name": name, "emptyDir": {}}


def irsa(
    *,
    role_arn: str = ROLE_ARN,
    audience: str = "sts.amazonaws.com",
    regional_sts: bool = False,
    token_expiration: int = 86400,
) -> Identity:
    return Identity(
        mode=Mode.IRSA,
        role_arn=role_arn,
        audience=audience,
        regional_sts=regional_sts,
        token_expiration=token_expiration,
    )


def pod_identity(*, regional_sts: bool = False, token_expiration: int = 86400) -> Identity:
    return Identity(
        mode=Mode.POD_IDENTITY,
        role_arn="",
        audience="pods.eks.amazonaws.com",
        regional_sts=regional_sts,
        token_expiration=token_expiration,
    )


@dataclass(frozen=True)
class Admitted:
    """A pod before and after the patch, with what the engine said about it."""

    original: Json
    pod: Json
    patch: list[Json]
    warnings: tuple[str, ...]
    mutation: Mutation | None = field(default=None)

    def container(self, name: str) -> Json:
        return find_container(self.pod, name)

    def env(self, name: str = "app") -> dict[str, str]:
        """Env of one container in order, name to value (valueFrom entries map to "<valueFrom>")."""
        return {
            variable["name"]: variable.get("value", "<valueFrom>")
            for variable in self.container(name).get("env", [])
        }

    def env_names(self, name: str = "app") -> list[str]:
        return [variable["name"] for variable in self.container(name).get("env", [])]

    def mounts(self, name: str = "app") -> list[Json]:
        return list(self.container(name).get("volumeMounts", []))

    def volumes(self) -> list[Json]:
        return list(self.pod["spec"].get("volumes", []))

    def volume(self, name: str) -> Json:
        matches = [volume for volume in self.volumes() if volume["name"] == name]
        assert len(matches) == 1, f"expected one volume {name!r}, found {len(matches)}"
        return matches[0]

    def token_request(self, volume: str = "aws-iam-token") -> Json:
        """The serviceAccountToken source of a projected token volume."""
        (source,) = self.volume(volume)["projected"]["sources"]
        token: Json = source["serviceAccountToken"]
        return token

    @property
    def changed(self) -> bool:
        return self.pod != self.original


def inject(
    original: Json,
    identity: Identity,
    settings: MutationSettings = DEFAULTS,
    *,
    versions: Sequence[str] = SUPPORTED_VERSIONS,
) -> Admitted:
    """Run the engine on a pod for an already resolved identity, apply its patch and check the result
    against the Kubernetes `versions` (pods using newer features name the versions that have them)."""
    mutation = mutate(pod_from_object(original), identity, settings)
    patched = apply(original, mutation.patch)
    assert_valid_pod(patched, original=original, versions=versions)
    return Admitted(
        original=original, pod=patched, patch=mutation.patch, warnings=mutation.warnings, mutation=mutation
    )


def admit(
    original: Json,
    *,
    annotations: Mapping[str, str] | None,
    settings: MutationSettings = DEFAULTS,
    mappings: RoleMappings | None = None,
    pod_identities: PodIdentityAssociations | None = None,
    versions: Sequence[str] = SUPPORTED_VERSIONS,
) -> Admitted:
    """The whole decision the server makes: resolve the ServiceAccount (`annotations`, None = no such
    ServiceAccount), then mutate; warnings of both steps, in that order."""
    resolution = resolve_identity(
        namespace=original["metadata"]["namespace"],
        service_account=original["spec"].get("serviceAccountName", "default"),
        annotations=annotations,
        mappings=mappings or RoleMappings(),
        pod_identities=pod_identities or PodIdentityAssociations(),
        settings=settings,
    )
    if resolution.identity is None:
        return Admitted(
            original=original, pod=copy.deepcopy(original), patch=[], warnings=resolution.warnings
        )
    injected = inject(original, resolution.identity, settings, versions=versions)
    return Admitted(
        original=original,
        pod=injected.pod,
        patch=injected.patch,
        warnings=resolution.warnings + injected.warnings,
        mutation=injected.mutation,
    )


def apply(original: Json, patch: list[Json]) -> Json:
    """Apply a JSON patch to a copy; the original stays as it was, so tests can compare both."""
    patched: Json = jsonpatch.apply_patch(original, patch)
    return patched


def role_annotations(
    prefix: str = "eks.amazonaws.com", role_arn: str = ROLE_ARN, **others: str
) -> dict[str, str]:
    """ServiceAccount annotations: the role plus `others` (underscores in keys become dashes)."""
    result = {f"{prefix}/role-arn": role_arn}
    result.update({f"{prefix}/{key.replace('_', '-')}": value for key, value in others.items()})
    return result
