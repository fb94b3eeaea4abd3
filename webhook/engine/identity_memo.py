"""Each ServiceAccount's resolved identity, remembered while what it was resolved from stays the same.

Every pod of a Deployment resolves the same ServiceAccount against the same cached annotations and the same
operator configuration. The ServiceAccount cache and the configuration watchers replace those objects
when they change and never change them in place, so "the same objects as last time" is a complete and
cheap test that the remembered answer still holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from webhook.engine.identity import Resolution, resolve_identity
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings

DEFAULT_LIMIT = 4096
"""ServiceAccounts remembered at most; past it the memo starts over, so its memory stays bounded."""

_Inputs = tuple[Mapping[str, str] | None, RoleMappings, PodIdentityAssociations]


class IdentityMemo:
    def __init__(self, *, settings: MutationSettings, limit: int = DEFAULT_LIMIT) -> None:
        self._settings = settings
        self._limit = limit
        self._remembered: dict[tuple[str, str], tuple[_Inputs, Resolution]] = {}

    def resolve(
        self,
        *,
        namespace: str,
        service_account: str,
        annotations: Mapping[str, str] | None,
        mappings: RoleMappings,
        pod_identities: PodIdentityAssociations,
    ) -> Resolution:
        """What `resolve_identity` answers for these inputs."""
        key = (namespace, service_account)
        remembered = self._remembered.get(key)
        if remembered is not None:
            (was_annotations, was_mappings, was_pod_identities), resolution = remembered
            if (
                was_annotations is annotations
                and was_mappings is mappings
                and was_pod_identities is pod_identities
            ):
                return resolution
        resolution = resolve_identity(
            namespace=namespace,
            service_account=service_account,
            annotations=annotations,
            mappings=mappings,
            pod_identities=pod_identities,
            settings=self._settings,
        )
        if len(self._remembered) >= self._limit:
            self._remembered.clear()
        self._remembered[key] = ((annotations, mappings, pod_identities), resolution)
        return resolution
