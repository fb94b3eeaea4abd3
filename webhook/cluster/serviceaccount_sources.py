"""Where the admission handler gets a pod's ServiceAccount from: one interface, two sources.

`WatchedServiceAccounts` (webhook.cluster.serviceaccount_watch) follows the cluster through list+watch and asks the
API directly on a miss; `FileServiceAccounts` (webhook.cluster.serviceaccount_file) serves a fixed set read from
`--service-account-file`, for running without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class ServiceAccountDirectory(Protocol):
    """Annotations are those under the annotation prefix only; None means "no such ServiceAccount"."""

    @property
    def synced(self) -> bool:
        """Whether the source holds a complete view yet; the webhook is not ready before."""

    def cached(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The hot path: what the source already holds, without waiting; None on a miss (counted)."""

    async def fetch(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """After a miss: ask the authority, bounded in time; ServiceAccountSourceError when it cannot."""

    def contents(self) -> list[tuple[str, str, Mapping[str, str]]]:
        """Every ServiceAccount held now, as (namespace, name, annotations): the debugging handler's dump."""

    def start(self) -> None:
        """Begin following the source, in the background."""

    def stop(self) -> None:
        """Stop following the source; returns within a few seconds."""
