"""ServiceAccounts followed in the cluster by list+watch, and read directly when the watch has not seen one.

A Deployment applied together with its ServiceAccount creates pods within milliseconds of the
ServiceAccount, often before the watch event arrives; reading it from the API on a miss, with a short bound
(`--api-fallback-timeout`), still mutates those pods, and a slow API server still cannot hold up admission.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import urllib3
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from webhook.cluster.list_watch import Backoff, EventType, KubeObject, ListWatch, describe_api_error
from webhook.cluster.serviceaccount_cache import EMPTY_ANNOTATIONS, ServiceAccountCache
from webhook.errors import ServiceAccountSourceError
from webhook.metrics import API_FALLBACKS

logger = logging.getLogger("webhook.serviceaccount_watch")


class WatchedServiceAccounts:
    """A `ServiceAccountDirectory` over the cluster: the cache follows every namespace; misses ask the API."""

    def __init__(
        self,
        *,
        api_client: ApiClient,
        annotation_prefix: str,
        fallback_timeout: float,
        backoff: Backoff | None = None,
        page_size: int = 500,
    ) -> None:
        self._core = CoreV1Api(api_client)
        self._cache = ServiceAccountCache(annotation_prefix=annotation_prefix)
        self._fallback_timeout = fallback_timeout
        self._decoder = msgspec.json.Decoder(KubeObject)
        self._list_watch = ListWatch(
            name="serviceaccounts",
            description="serviceaccounts in all namespaces",
            list_call=self._core.list_service_account_for_all_namespaces,
            item_type=KubeObject,
            on_replace=self._replace,
            on_event=self._apply,
            backoff=backoff,
            page_size=page_size,
        )

    @property
    def synced(self) -> bool:
        return self._cache.synced

    def __len__(self) -> int:
        return len(self._cache)

    def start(self) -> None:
        self._list_watch.start()

    def stop(self) -> None:
        self._list_watch.stop()

    def cached(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self._cache.get(namespace, name)

    def contents(self) -> list[tuple[str, str, Mapping[str, str]]]:
        return self._cache.contents()

    async def fetch(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """Read the ServiceAccount from the API; None when it does not exist. Counted in API_FALLBACKS."""
        where = f"serviceaccount {namespace}/{name}"
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(self._read, namespace, name), self._fallback_timeout
            )
        except TimeoutError as error:
            API_FALLBACKS.labels(result="error").inc()
            raise ServiceAccountSourceError(
                f"reading {where} from the API took over {self._fallback_timeout}s (--api-fallback-timeout)"
            ) from error
        except Exception as error:
            if isinstance(error, ApiException) and error.status == 404:
                API_FALLBACKS.labels(result="not_found").inc()
                return None
            API_FALLBACKS.labels(result="error").inc()
            raise ServiceAccountSourceError(
                f"reading {where} from the API failed: {describe_api_error(error)}"
            ) from error
        API_FALLBACKS.labels(result="found").inc()
        metadata = found.metadata
        return self._cache.put_if_absent(
            namespace, name, metadata.annotations or EMPTY_ANNOTATIONS, version=metadata.resourceVersion
        )

    def _read(self, namespace: str, name: str) -> KubeObject:
        """The socket timeout frees the thread, which cannot be cancelled. When the event loop stalls past
        the lookup's own timer, it is the socket timeout that ends the lookup; either one is the same
        timeout to an operator, so both are the builtin TimeoutError."""
        try:
            response: Any = self._core.read_namespaced_service_account(
                name, namespace, _preload_content=False, _request_timeout=self._fallback_timeout
            )
            try:
                return self._decoder.decode(response.data)
            finally:
                response.release_conn()
        except urllib3.exceptions.NewConnectionError:
            raise  # a refused connection, which urllib3 files under ConnectTimeoutError
        except urllib3.exceptions.TimeoutError as error:
            raise TimeoutError(str(error)) from error

    def _replace(self, service_accounts: Iterable[KubeObject], version: str) -> None:
        self._cache.replace_all(
            (
                (item.metadata.namespace, item.metadata.name, item.metadata.annotations or EMPTY_ANNOTATIONS)
                for item in service_accounts
            ),
            version=version,
        )
        logger.info("cached %d ServiceAccounts from a full list", len(self._cache))

    def _apply(self, event: EventType, item: KubeObject) -> None:
        metadata = item.metadata
        if event == "DELETED":
            self._cache.delete(metadata.namespace, metadata.name, version=metadata.resourceVersion)
        else:
            self._cache.put(
                metadata.namespace,
                metadata.name,
                metadata.annotations or EMPTY_ANNOTATIONS,
                version=metadata.resourceVersion,
            )
