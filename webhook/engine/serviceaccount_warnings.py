"""What is wrong with a ServiceAccount's annotations, said when it is written rather than when a pod misses
its role.

A misspelt key, a role that is not an ARN or an expiration out of range are all accepted by the API server
and silently ignored (or altered) by the mutation; the ServiceAccount validating webhook answers with these
sentences as admission warnings, which `kubectl apply` prints. The checks are the ones the mutation and
`explain` already make, in the same words: the near-miss detection of `annotation_names` and the value
parsing of `annotation_values`. Every value is checked whether or not the ServiceAccount has a role yet: a
misspelt role key usually comes with an expiration that is just as wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from webhook.engine.annotation_names import serviceaccount_annotation_notes
from webhook.engine.annotation_values import parse_bool, parse_token_expiration, role_arn_warning
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings


def serviceaccount_warnings(
    *,
    namespace: str,
    name: str,
    annotations: Mapping[str, str],
    pod_identities: PodIdentityAssociations,
    settings: MutationSettings,
) -> list[str]:
    """Every warning for a ServiceAccount with these (all) annotations; empty when it is written right."""
    keys = settings.keys
    where = f"serviceaccount {namespace}/{name}"
    warnings = [
        f"{where}: {note}"
        for note in serviceaccount_annotation_notes(annotations, prefix=settings.annotation_prefix)
    ]
    role = annotations.get(keys.role_arn, "").strip()
    associated = (namespace, name) in pod_identities
    if role and associated:
        warnings.append(
            f"{where}: has both the {keys.role_arn} annotation and a Pod Identity association; the association "
            "wins and the annotation is not used"
        )
    audience = annotations.get(keys.audience)
    if audience is not None and not audience.strip():
        warnings.append(
            f"{where}: the {keys.audience} annotation is empty; the default audience {settings.token_audience} "
            "is used"
        )
    expiration = annotations.get(keys.token_expiration)
    if expiration is not None:
        _, warning = parse_token_expiration(expiration, where=f"{where} annotation token-expiration")
        warnings += [warning] if warning else []
    regional = annotations.get(keys.sts_regional_endpoints)
    if regional is not None:
        _, warning = parse_bool(regional, where=f"{where} annotation sts-regional-endpoints")
        warnings += [warning] if warning else []
    if role and not associated:
        warning = role_arn_warning(role, where=where)
        warnings += [warning] if warning else []
    return warnings
