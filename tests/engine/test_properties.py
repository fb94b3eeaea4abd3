"""Properties of the patch for any pod: it applies, only adds, keeps the pod valid, and is idempotent.

Pods are generated valid (unique names, mounts of existing volumes, unique mount paths) but otherwise
arbitrary: containers, init containers and native sidecars with random env (including the AWS keys the
engine looks for), mounts at the token paths, volumes named like the token volumes, made-up fields at every
level, skip labels and annotations, and Windows selectors.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.engine.support import IRSA_MOUNT_PATH, POD_IDENTITY_MOUNT_PATH, irsa, pod_identity
from tests.validation import NEWEST_VERSION, SUPPORTED_VERSIONS, api_server_rule_violations, assert_valid_pod
from webhook.engine.identity import Identity
from webhook.engine.mutation import mutate
from webhook.engine.pod_view import pod_from_object
from webhook.engine.settings import MutationSettings

UNKNOWN = "x-made-up"
"""The key of every made-up field: stripped before the strict schema check, which rejects unknown fields."""

ENV_NAMES = (
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "HOME",
    "LOG_LEVEL",
)
VOLUME_NAMES = ("aws-iam-token", "eks-pod-identity-token", "data", "cache")
MOUNT_PATHS = (IRSA_MOUNT_PATH, IRSA_MOUNT_PATH + "/", POD_IDENTITY_MOUNT_PATH, "/data", "/var/run/secrets")
CONTAINER_NAMES = ("app", "sidecar", "proxy", "init", "mesh", "migrate")
PREFIXES = ("eks.amazonaws.com", "iam.example.com")

json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def with_unknown_field(draw: st.DrawFn, node: dict[str, Any]) -> dict[str, Any]:
    if draw(st.booleans()):
        node[UNKNOWN] = draw(json_values)
    return node


@st.composite
def env_entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    entries = []
    for name in draw(st.lists(st.sampled_from(ENV_NAMES), unique=True, max_size=5)):
        if draw(st.booleans()):
            entry: dict[str, Any] = {"name": name, "value": draw(st.text(max_size=8))}
        else:
            entry = {"name": name, "valueFrom": {"secretKeyRef": {"name": "creds", "key": name.lower()}}}
        entries.append(with_unknown_field(draw, entry))
    return entries


@st.composite
def containers(draw: st.DrawFn, *, name: str, volumes: list[str], init: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"name": name, "image": "busybox"}
    if draw(st.booleans()):
        result["env"] = draw(env_entries())
    if draw(st.booleans()) and volumes:
        paths = draw(
            st.lists(st.sampled_from(MOUNT_PATHS), unique_by=lambda path: path.rstrip("/"), max_size=3)
        )
        result["volumeMounts"] = [
            with_unknown_field(draw, {"name": draw(st.sampled_from(volumes)), "mountPath": path})
            for path in paths
        ]
    if init and draw(st.booleans()):
        result["restartPolicy"] = "Always"
    return with_unknown_field(draw, result)


def volume(name: str, kind: int) -> dict[str, Any]:
    if kind == 0:
        return {"name": name, "emptyDir": {}}
    token = {"audience": "someone", "expirationSeconds": 3600, "path": "token"}
    return {"name": name, "projected": {"sources": [{"serviceAccountToken": token}]}}


WINDOWS_SPECS: tuple[dict[str, Any], ...] = (
    {},
    {"nodeSelector": {"kubernetes.io/os": "windows"}},
    {"nodeSelector": {"beta.kubernetes.io/os": "linux"}},
    {"os": {"name": "windows"}},
    {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}
                            ]
                        }
                    ]
                }
            }
        }
    },
)


@st.composite
def pods(draw: st.DrawFn, *, prefix: str) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(CONTAINER_NAMES), unique=True, min_size=1, max_size=4))
    split = draw(st.integers(0, len(names) - 1))
    init_names, main_names = names[:split], names[split:]
    volume_names = draw(st.lists(st.sampled_from(VOLUME_NAMES), unique=True, max_size=3))
    spec: dict[str, Any] = {"serviceAccountName": "checkout", **draw(st.sampled_from(WINDOWS_SPECS))}
    if draw(st.booleans()) or volume_names:
        spec["volumes"] = [
            with_unknown_field(draw, volume(name, draw(st.integers(0, 1)))) for name in volume_names
        ]
    if init_names:
        spec["initContainers"] = [
            draw(containers(name=name, volumes=volume_names, init=True)) for name in init_names
        ]
    spec["containers"] = [
        draw(containers(name=name, volumes=volume_names, init=False)) for name in main_names
    ]

    metadata: dict[str, Any] = {"generateName": "checkout-", "namespace": "shop"}
    labels = draw(
        st.dictionaries(
            st.sampled_from(("app", "team", "tier", f"{prefix}/skip-pod-identity-webhook")),
            st.just("x"),
            max_size=2,
        )
    )
    if draw(st.booleans()) or labels:
        metadata["labels"] = labels
    annotations = draw(
        st.fixed_dictionaries(
            {},
            optional={
                f"{prefix}/skip-containers": st.lists(st.sampled_from(names), max_size=2).map(" , ".join),
                f"{prefix}/token-expiration": st.sampled_from(("100", "3600", "soon", "99999999999")),
            },
        )
    )
    if annotations:
        metadata["annotations"] = annotations
    return with_unknown_field(
        draw,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": with_unknown_field(draw, metadata),
            "spec": with_unknown_field(draw, spec),
        },
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], Identity, MutationSettings]:
    prefix = draw(st.sampled_from(PREFIXES))
    configuration = MutationSettings(
        annotation_prefix=prefix, aws_default_region=draw(st.sampled_from(("", "eu-west-1")))
    )
    make_identity = draw(st.sampled_from((irsa, pod_identity)))
    identity = make_identity(
        regional_sts=draw(st.booleans()), token_expiration=draw(st.sampled_from((600, 86400)))
    )
    return draw(pods(prefix=prefix)), identity, configuration


def contained(original: Any, patched: Any, path: str = "") -> list[str]:
    """Where `patched` lost or changed something of `original`: lists may only grow at the end (the token
    volume goes first in `spec.volumes`, as the reference puts it), objects may only gain keys, scalars must
    be equal."""
    if isinstance(original, dict):
        if not isinstance(patched, dict):
            return [f"{path or '/'} is no longer an object"]
        return [
            problem
            for key, value in original.items()
            for problem in (
                contained(value, patched[key], f"{path}/{key}")
                if key in patched
                else [f"{path}/{key} removed"]
            )
        ]
    if isinstance(original, list):
        if not isinstance(patched, list) or len(patched) < len(original):
            return [f"{path} lost items"]
        shift = len(patched) - len(original) if path == "/spec/volumes" else 0
        return [
            problem
            for index, item in enumerate(original)
            for problem in contained(item, patched[index + shift], f"{path}/{index}")
        ]
    return [] if original == patched and type(original) is type(patched) else [f"{path} changed"]


def without_made_up_fields(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: without_made_up_fields(value) for key, value in document.items() if key != UNKNOWN}
    if isinstance(document, list):
        return [without_made_up_fields(item) for item in document]
    return document


def uses_native_sidecars(pod: dict[str, Any]) -> bool:
    return any("restartPolicy" in item for item in pod["spec"].get("initContainers", ()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_patch_applies_only_adds_stays_valid_and_is_idempotent(
    case: tuple[dict[str, Any], Identity, MutationSettings],
) -> None:
    original, identity, configuration = case
    assert api_server_rule_violations(original) == [], "the generator made an invalid pod"

    mutation = mutate(pod_from_object(original), identity, configuration)
    patched = jsonpatch.apply_patch(original, mutation.patch)
    event(
        "pod skipped" if mutation.pod_skipped else "pod patched" if mutation.patch else "pod needed nothing"
    )
    if mutation.warnings:
        event("with warnings")

    assert contained(original, patched) == []
    assert api_server_rule_violations(patched, original=original) == []
    versions = (NEWEST_VERSION,) if uses_native_sidecars(original) else SUPPORTED_VERSIONS
    assert_valid_pod(
        without_made_up_fields(patched), original=without_made_up_fields(original), versions=versions
    )
    assert mutate(pod_from_object(patched), identity, configuration).patch == []
