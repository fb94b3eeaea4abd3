"""Which AWS identity a pod's ServiceAccount gets, and from where.

Order: a Pod Identity association wins; then the ServiceAccount's own role-arn annotation; then an
operator mapping. Each setting then falls back: ServiceAccount annotation > mapping > flag.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import msgspec

from webhook.engine.annotation_values import parse_bool, parse_token_expiration, role_arn_warning
from webhook.engine.mappings import RoleMapping, RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings


class Mode(enum.Enum):
    IRSA = "irsa"
    POD_IDENTITY = "pod-identity"


class Source(enum.Enum):
    """Where the identity came from, or why there is none: `explain` and the logs say it in words."""

    POD_IDENTITY_ASSOCIATION = "pod-identity-association"
    ANNOTATION = "serviceaccount-annotation"
    MAPPING = "mapping"
    NO_SERVICE_ACCOUNT = "serviceaccount-not-found"
    NO_ROLE = "no-role"


_NO_ANNOTATIONS: Mapping[str, str] = {}


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    mode: Mode
    role_arn: str
    """Empty in Pod Identity mode: the agent knows the role."""
    audience: str
    regional_sts: bool
    token_expiration: int
    """From the ServiceAccount, a mapping or the flag; a pod annotation may still override it."""


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    identity: Identity | None
    source: Source
    mapping: RoleMapping | None = None
    warnings: tuple[str, ...] = ()


def resolve_identity(
    *,
    namespace: str,
    service_account: str,
    annotations: Mapping[str, str] | None,
    mappings: RoleMappings,
    pod_identities: PodIdentityAssociations,
    settings: MutationSettings,
) -> Resolution:
    """Resolve the identity of `namespace/service_account`.

    `annotations` holds the ServiceAccount's annotations (only those under the prefix are read), or None
    when the ServiceAccount does not exist.
    """
    keys = settings.keys
    found = annotations is not None
    annotations = annotations or _NO_ANNOTATIONS
    pod_identity = (namespace, service_account) in pod_identities
    role_arn = _annotated_role_arn(annotations, settings)
    mapping = mappings.lookup(namespace, service_account) if len(mappings) else None
    if not (pod_identity or role_arn or mapping):
        return Resolution(identity=None, source=Source.NO_ROLE if found else Source.NO_SERVICE_ACCOUNT)

    where = f"serviceaccount {namespace}/{service_account}"
    warnings: list[str] = []
    from_mapping = mapping if not (pod_identity or role_arn) else None
    regional_sts = _regional_sts(
        annotations.get(keys.sts_regional_endpoints),
        mapped=from_mapping.use_regional_sts if from_mapping else None,
        flag=settings.sts_regional_endpoint,
        where=where,
        warnings=warnings,
    )
    expiration = _token_expiration(
        annotations.get(keys.token_expiration),
        mapped=from_mapping.token_expiration if from_mapping else None,
        flag=settings.token_expiration,
        where=where,
        warnings=warnings,
    )
    if pod_identity:
        identity = Identity(
            mode=Mode.POD_IDENTITY,
            role_arn="",
            audience=settings.container_credentials_audience,
            regional_sts=regional_sts,
            token_expiration=expiration,
        )
        return Resolution(
            identity=identity,
            source=Source.POD_IDENTITY_ASSOCIATION,
            mapping=mapping,
            warnings=tuple(warnings),
        )
    if from_mapping is not None:
        role_arn = from_mapping.role_arn
    arn_warning = role_arn_warning(role_arn, where=where)
    if arn_warning:
        warnings.append(arn_warning)
    identity = Identity(
        mode=Mode.IRSA,
        role_arn=role_arn,
        audience=annotations.get(keys.audience)
        or (from_mapping.audience if from_mapping else None)
        or settings.token_audience,
        regional_sts=regional_sts,
        token_expiration=expiration,
    )
    return Resolution(
        identity=identity,
        source=Source.MAPPING if from_mapping else Source.ANNOTATION,
        mapping=mapping,
        warnings=tuple(warnings),
    )


def service_account_entry(
    *, namespace: str, service_account: str, annotations: Mapping[str, str], settings: MutationSettings
) -> dict[str, Any]:
    """A ServiceAccount as the reference's cache holds it and its `/debug/alpha/cache` shows it: its own
    annotations over the flags (mappings and Pod Identity apart), with the Go field names."""
    keys = settings.keys
    where = f"serviceaccount {namespace}/{service_account}"
    ignored: list[str] = []
    return {
        "RoleARN": _annotated_role_arn(annotations, settings),
        "Audience": annotations.get(keys.audience) or settings.token_audience,
        "UseRegionalSTS": _regional_sts(
            annotations.get(keys.sts_regional_endpoints),
            mapped=None,
            flag=settings.sts_regional_endpoint,
            where=where,
            warnings=ignored,
        ),
        "TokenExpiration": _token_expiration(
            annotations.get(keys.token_expiration),
            mapped=None,
            flag=settings.token_expiration,
            where=where,
            warnings=ignored,
        ),
    }


def _annotated_role_arn(annotations: Mapping[str, str], settings: MutationSettings) -> str:
    """The role-arn annotation's value, trimmed, and composed into an ARN with `--compose-role-arn`."""
    role_arn = annotations.get(settings.keys.role_arn, "").strip()
    if role_arn and settings.compose_role_arn is not None:
        return settings.compose_role_arn.role_arn(role_arn)
    return role_arn


def _regional_sts(
    annotated: str | None, *, mapped: bool | None, flag: bool, where: str, warnings: list[str]
) -> bool:
    if annotated is not None:
        parsed, warning = parse_bool(annotated, where=f"{where} annotation sts-regional-endpoints")
        if warning:
            warnings.append(warning)
        if parsed is not None:
            return parsed
    return flag if mapped is None else mapped


def _token_expiration(
    annotated: str | None, *, mapped: int | None, flag: int, where: str, warnings: list[str]
) -> int:
    candidates = ((annotated, f"{where} annotation token-expiration"), (mapped, f"mapping for {where}"))
    for value, source in candidates:
        if value is None:
            continue
        parsed, warning = parse_token_expiration(str(value), where=source)
        if warning:
            warnings.append(warning)
        if parsed is not None:
            return parsed
    return flag


def describe_identity(resolution: Resolution, *, role_key: str) -> str:
    """The identity a pod gets and where it comes from, in the words `explain`, `audit` and the missed-
    credentials Events share."""
    identity = resolution.identity
    if identity is None:
        return "no AWS identity"
    token = f"token audience {identity.audience}, lifetime {identity.token_expiration}s"
    if identity.regional_sts:
        token += ", regional STS endpoint"
    if identity.mode is Mode.POD_IDENTITY:
        return (
            "EKS Pod Identity: the ServiceAccount is listed in the Pod Identity associations, so the Pod "
            f"Identity agent supplies the role's credentials ({token})"
        )
    origin = (
        f"the operator mapping {resolution.mapping.key!r}"
        if resolution.source is Source.MAPPING and resolution.mapping
        else f"the ServiceAccount's {role_key} annotation"
    )
    return f"IRSA: role {identity.role_arn}, from {origin} ({token})"
