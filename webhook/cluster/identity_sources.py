"""The operator configuration every admission request reads, swapped whole by the watchers that load it.

Each watcher builds a new immutable value and assigns the attribute; the handler reads the attribute once per
request, so it sees either the old or the new configuration, never half of one, without taking a lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations


@dataclass(slots=True, kw_only=True)
class IdentitySources:
    mappings: RoleMappings = field(default_factory=RoleMappings)
    """From the ConfigMap `pod-identity-webhook` (`--watch-config-map`); empty without it."""
    pod_identities: PodIdentityAssociations = field(default_factory=PodIdentityAssociations)
    """From `--watch-container-credentials-config`; empty without it."""
