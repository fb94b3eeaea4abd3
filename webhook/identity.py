"""Which AWS identity a pod's ServiceAccount gets, and from where.

Order: a Pod Identity association wins; then the ServiceAccount's own role-arn annotation; then an
operator mapping. Each setting then falls back: ServiceAccount annotation > mapping > flag.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from webhook.annotation_values import parse_bool, parse_token_expiration, role_arn_warning
from webhook.mappings import RoleMapping, RoleMappings
from webhook.pod_identity_associations import PodIdentityAssociations
from webhook.settings import MutationSettings


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    mode: Mode
    role_arn: str
    """Empty in Pod Identity mode: the agent knows the role."""
    audience: str
    regional_sts: bool
    token_expiration: int
    """From the ServiceAccount, a mapping or the flag; a pod annotation may still override it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
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
    where = f"serviceaccount {namespace}/{service_account}"
    missing = Source.NO_SERVICE_ACCOUNT if annotations is None else Source.NO_ROLE
    annotations = annotations or {}
    warnings: list[str] = []

    def annotated(suffix: str) -> str | None:
        value = annotations.get(settings.annotation(suffix))
        return value if value else None

    def flag_or(value: bool | None, flag: bool, raw: str | None) -> bool:
        if raw is not None:
            parsed, warning = parse_bool(raw, where=f"{where} annotation sts-regional-endpoints")
            if warning:
                warnings.append(warning)
            if parsed is not None:
                return parsed
        return flag if value is None else value

    def expiration(mapped: int | None) -> int:
        raw = annotated("token-expiration")
        if raw is not None:
            parsed, warning = parse_token_expiration(raw, where=f"{where} annotation token-expiration")
            if warning:
                warnings.append(warning)
            if parsed is not None:
                return parsed
        if mapped is not None:
            parsed, warning = parse_token_expiration(
                str(mapped), where=f"mapping for {namespace}/{service_account}"
            )
            if warning:
                warnings.append(warning)
            if parsed is not None:
                return parsed
        return settings.token_expiration

    regional_raw = annotated("sts-regional-endpoints")
    if (namespace, service_account) in pod_identities:
        identity = Identity(
            mode=Mode.POD_IDENTITY,
            role_arn="",
            audience=settings.container_credentials_audience,
            regional_sts=flag_or(None, settings.sts_regional_endpoint, regional_raw),
            token_expiration=expiration(None),
        )
        return Resolution(identity=identity, source=Source.POD_IDENTITY_ASSOCIATION, warnings=tuple(warnings))

    role_arn = (annotated("role-arn") or "").strip()
    mapping = mappings.lookup(namespace, service_account)
    if role_arn:
        source = Source.ANNOTATION
        from_mapping = None
    elif mapping is not None:
        source = Source.MAPPING
        role_arn = mapping.role_arn
        from_mapping = mapping
    else:
        return Resolution(identity=None, source=missing)

    arn_warning = role_arn_warning(role_arn, where=where)
    if arn_warning:
        warnings.append(arn_warning)
    identity = Identity(
        mode=Mode.IRSA,
        role_arn=role_arn,
        audience=annotated("audience")
        or (from_mapping.audience if from_mapping else None)
        or settings.token_audience,
        regional_sts=flag_or(
            from_mapping.use_regional_sts if from_mapping else None,
            settings.sts_regional_endpoint,
            regional_raw,
        ),
        token_expiration=expiration(from_mapping.token_expiration if from_mapping else None),
    )
    return Resolution(identity=identity, source=source, mapping=mapping, warnings=tuple(warnings))
