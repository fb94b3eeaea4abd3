"""`--watch-config-map`: operator role mappings read from the ConfigMap `pod-identity-webhook`, kept current.

The webhook watches only that one ConfigMap in its own namespace (a fieldSelector on its name), so it needs
no wider RBAC than `get/list/watch` on configmaps there. A bad edit is refused, not applied: the previous
mappings stay in force and the error is logged and counted, because dropping every mapping would silently
take roles away from running workloads' new pods. Deleting the ConfigMap, or its `config` key, does remove
the mappings, as the reference webhook does.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from kubernetes.client import ApiClient, CoreV1Api

from webhook.cluster.identity_sources import IdentitySources
from webhook.cluster.list_watch import Backoff, EventType, KubeObject, ListWatch
from webhook.engine.mappings import CONFIG_KEY, CONFIG_MAP_NAME, RoleMappings
from webhook.errors import ConfigurationError
from webhook.metrics import CONFIG_RELOADS

logger = logging.getLogger("webhook.role_mappings_watch")

_METRIC_SOURCE = "role-mappings"
_NOTHING_YET = object()


class ConfigMapData(KubeObject, frozen=True):
    data: dict[str, str] | None = None


class RoleMappingsWatch:
    """Keeps `sources.mappings` equal to the ConfigMap's `config`, from `start()` until `stop()`."""

    def __init__(
        self,
        *,
        api_client: ApiClient,
        namespace: str,
        sources: IdentitySources,
        backoff: Backoff | None = None,
    ) -> None:
        self._sources = sources
        self._where = f"configmap {namespace}/{CONFIG_MAP_NAME}"
        self._applied: object = _NOTHING_YET
        list_call = functools.partial(
            CoreV1Api(api_client).list_namespaced_config_map,
            namespace,
            field_selector=f"metadata.name={CONFIG_MAP_NAME}",
        )
        self._list_watch = ListWatch(
            name="role-mappings",
            description=self._where,
            list_call=list_call,
            item_type=ConfigMapData,
            on_replace=self._replace,
            on_event=self._apply,
            backoff=backoff,
        )

    @property
    def synced(self) -> bool:
        return self._list_watch.synced

    def start(self) -> None:
        self._list_watch.start()

    def stop(self) -> None:
        self._list_watch.stop()

    def _replace(self, config_maps: Iterable[ConfigMapData], _version: str) -> None:
        listed = None
        for config_map in config_maps:
            listed = config_map
        self._load(listed)

    def _apply(self, event: EventType, config_map: ConfigMapData) -> None:
        self._load(None if event == "DELETED" else config_map)

    def _load(self, config_map: ConfigMapData | None) -> None:
        config = (config_map.data or {}).get(CONFIG_KEY) if config_map is not None else None
        if config == self._applied:
            return
        if config is None:
            mappings = RoleMappings()
        else:
            try:
                mappings = RoleMappings.parse(config)
            except ConfigurationError as error:
                logger.error(
                    "%s: keeping the previous %d role mappings: %s",
                    self._where,
                    len(self._sources.mappings),
                    error,
                )
                CONFIG_RELOADS.labels(source=_METRIC_SOURCE, result="error").inc()
                return
        self._sources.mappings = mappings
        self._applied = config
        if config is None:
            logger.info("%s: no %r key or no ConfigMap; no role mappings", self._where, CONFIG_KEY)
        else:
            logger.info("%s: loaded %d role mappings", self._where, len(mappings))
        CONFIG_RELOADS.labels(source=_METRIC_SOURCE, result="success").inc()
