"""The ServiceAccounts that use the EKS Pod Identity agent instead of a web-identity token.

File format (`--watch-container-credentials-config`): `{"identities":[{"namespace":"ns","serviceAccount":"sa"}]}`,
field names in any case as the reference reads them.
"""

from __future__ import annotations

from typing import Any

from webhook.engine import go_json
from webhook.errors import ConfigurationError


class PodIdentityAssociations:
    """An immutable set of (namespace, serviceAccount) pairs; the file watcher swaps in a new one."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: frozenset[tuple[str, str]] = frozenset()) -> None:
        self._pairs = pairs

    def __contains__(self, pair: object) -> bool:
        return pair in self._pairs

    def __len__(self) -> int:
        return len(self._pairs)

    @classmethod
    def parse(cls, text: str, *, source: str) -> PodIdentityAssociations:
        """Parse the file's content; raises ConfigurationError naming the file and the bad entry."""
        try:
            document: Any = go_json.parse(text) if text.strip() else {}
        except ValueError as error:
            raise ConfigurationError(f"{source}: not JSON: {error}") from error
        identities = go_json.field(document, "identities") if isinstance(document, dict) else document
        if identities is None:  # absent or null: no associations, as Go reads it
            identities = []
        if not isinstance(document, dict) or not isinstance(identities, list):
            raise ConfigurationError(f'{source}: expected {{"identities": [...]}}')
        pairs = set()
        for index, item in enumerate(identities):
            namespace = go_json.field(item, "namespace") if isinstance(item, dict) else None
            name = go_json.field(item, "serviceAccount") if isinstance(item, dict) else None
            if not isinstance(namespace, str) or not namespace or not isinstance(name, str) or not name:
                raise ConfigurationError(
                    f'{source}: identities[{index}] needs non-empty "namespace" and "serviceAccount"'
                )
            pairs.add((namespace, name))
        return cls(frozenset(pairs))
