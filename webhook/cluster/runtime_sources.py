"""Builds, starts and stops where identities come from, as the `serve` flags ask.

ServiceAccounts come from `--service-account-file` (no cluster), or from the cluster through a watch;
role mappings and Pod Identity associations are optional watchers feeding one `IdentitySources`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from webhook.cluster.identity_sources import IdentitySources
from webhook.cluster.kube_client import api_client, webhook_namespace
from webhook.cluster.pod_identity_associations_watch import PodIdentityAssociationsWatch
from webhook.cluster.serviceaccount_file import FileServiceAccounts
from webhook.cluster.serviceaccount_sources import ServiceAccountDirectory
from webhook.engine.settings import MutationSettings
from webhook.errors import ConfigurationError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from webhook.cluster.role_mappings_watch import RoleMappingsWatch


@dataclass(slots=True, kw_only=True)
class RunningSources:
    namespace: str
    service_accounts: ServiceAccountDirectory
    configuration: IdentitySources
    api_client: ApiClient | None
    """The cluster client the sources use, shared with self-managed TLS; None without a cluster."""
    _stops: list[Callable[[], None]] = field(default_factory=list)

    role_mappings: RoleMappingsWatch | None = None

    def synced(self) -> tuple[bool, str]:
        """Ready once every source has read its first full state: a pod admitted before the mappings
        arrived would silently miss its role."""
        if not self.service_accounts.synced:
            return False, "ServiceAccount cache not synced yet"
        if self.role_mappings is not None and not self.role_mappings.synced:
            return False, "role mappings ConfigMap not read yet"
        return True, "ServiceAccount cache synced"

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()


def start_identity_sources(args: argparse.Namespace, *, settings: MutationSettings) -> RunningSources:
    namespace = args.namespace or webhook_namespace()
    configuration = IdentitySources()
    if args.repair_missed_credentials and not args.find_missed_credentials:
        raise ConfigurationError(
            "--repair-missed-credentials repairs what --find-missed-credentials finds: set both"
        )
    if args.service_account_file:
        for flag in ("watch_config_map", "find_missed_credentials"):
            if getattr(args, flag):
                raise ConfigurationError(
                    f"--{flag.replace('_', '-')} needs a cluster; it cannot be used with --service-account-file"
                )
        service_accounts: ServiceAccountDirectory = FileServiceAccounts(
            path=Path(args.service_account_file), annotation_prefix=settings.annotation_prefix
        )
        client = None
    else:
        # Cluster sources are imported only in cluster mode: see kube_client.api_client.
        from webhook.cluster.serviceaccount_watch import WatchedServiceAccounts  # noqa: PLC0415 - the kubernetes client costs ~30 MB and ~1 s to import; file mode never needs it

        client = api_client(kubeconfig=args.kubeconfig, server=args.kube_api)
        service_accounts = WatchedServiceAccounts(
            api_client=client,
            annotation_prefix=settings.annotation_prefix,
            fallback_timeout=args.api_fallback_timeout,
        )
    running = RunningSources(
        namespace=namespace, service_accounts=service_accounts, configuration=configuration, api_client=client
    )
    service_accounts.start()
    running._stops.append(service_accounts.stop)
    try:
        if args.watch_config_map and client is not None:
            from webhook.cluster.role_mappings_watch import RoleMappingsWatch  # noqa: PLC0415 - the kubernetes client costs ~30 MB and ~1 s to import; file mode never needs it

            running.role_mappings = RoleMappingsWatch(
                api_client=client, namespace=namespace, sources=configuration
            )
            running.role_mappings.start()
            running._stops.append(running.role_mappings.stop)
        if args.watch_container_credentials_config:
            associations = PodIdentityAssociationsWatch(
                path=Path(args.watch_container_credentials_config), sources=configuration
            )
            associations.start()
            running._stops.append(associations.stop)
        if args.find_missed_credentials and client is not None:
            from webhook.cluster.missed_credentials import MissedCredentialsFinder  # noqa: PLC0415 - the kubernetes client costs ~30 MB and ~1 s to import; file mode never needs it

            finder = MissedCredentialsFinder(
                api_client=client,
                service_accounts=service_accounts,
                configuration=configuration,
                settings=settings,
                ready=lambda: running.synced()[0],
                interval=args.missed_credentials_interval,
                exclude_namespaces=args.exclude_namespaces,
                repair_interval=args.repair_interval if args.repair_missed_credentials else None,
            )
            finder.start()
            running._stops.append(finder.stop)
    except BaseException:
        running.stop()
        raise
    return running
