"""`--find-missed-credentials`: pods running without the credentials their ServiceAccount now gives, found,
reported and, with `--repair-missed-credentials`, replaced.

Every `--missed-credentials-interval` the finder lists the cluster's pods (a periodic list rather than a
watch: a pod that missed its credentials stays unchanged, and what makes it one is usually a change of its
ServiceAccount, which no pod event would show) and runs the mutation on each against the live
ServiceAccount cache and operator configuration (`engine.missed_credentials`).

Each pod found is reported once: a log line from the replica that finds it, and one Warning Event on the
pod. The Event's name is derived from the pod's uid, so when several replicas find the same pod only the
first creates it (the others get 409 AlreadyExists), and a restarted replica does not report it again while
the Event lasts. The gauge `pods_missing_credentials` is the count of the last scan.

Repair evicts pods owned by a controller, through the Eviction API so PodDisruptionBudgets are respected
(429: not now, tried again later), one at most per `--repair-interval`; the eviction is bound to the pod's
uid, so a StatefulSet's new pod of the same name is never the one evicted. A bare pod has no one to create
it again: it is only reported. When a controller's replacement of a pod evicted here lacks credentials too
(the webhook does not see the controller's pods: selectors, excluded namespaces), it is not evicted again:
repair must not turn into a loop.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from webhook.cluster.identity_sources import IdentitySources
from webhook.cluster.kube_json import KubeJson
from webhook.cluster.list_watch import describe_api_error
from webhook.cluster.pods import ListedPod, list_pods
from webhook.cluster.serviceaccount_sources import ServiceAccountDirectory
from webhook.engine.identity_memo import IdentityMemo
from webhook.engine.missed_credentials import (
    EVENT_REASON,
    containers_missing_credentials,
    missed_credentials_message,
)
from webhook.engine.settings import MutationSettings
from webhook.metrics import MISSED_CREDENTIALS, REPAIR_EVICTIONS

logger = logging.getLogger("webhook.missed_credentials")

COMPONENT = "pod-identity-webhook"
RETRY_AFTER_FAILURE = 30.0
"""Seconds before a scan that failed (API down, RBAC missing) is tried again, when the interval is longer."""
_NOT_READY_POLL = 0.5


class MissedCredentialsFinder:
    """Scans from `start()` until `stop()`, in a daemon thread, once the sources are ready (`ready`): a scan
    against a ServiceAccount cache not yet synced would miss every pod."""

    def __init__(
        self,
        *,
        api_client: ApiClient,
        service_accounts: ServiceAccountDirectory,
        configuration: IdentitySources,
        settings: MutationSettings,
        ready: Callable[[], bool],
        interval: float,
        exclude_namespaces: Collection[str] = (),
        repair_interval: float | None = None,
    ) -> None:
        self._api_client = api_client
        self._api = KubeJson(api_client)
        self._service_accounts = service_accounts
        self._configuration = configuration
        self._settings = settings
        self._memo = IdentityMemo(settings=settings)
        self._ready = ready
        self._interval = interval
        self._excluded = frozenset(exclude_namespaces)
        self._repair_interval = repair_interval
        self._reported: set[str] = set()
        """Pods whose Event exists (made here or by another replica): done."""
        self._logged: set[str] = set()
        self._queue: collections.OrderedDict[str, ListedPod] = collections.OrderedDict()
        """Controller-owned pods waiting for eviction, by uid, oldest first."""
        self._evicted_from: dict[str, datetime] = {}
        """Controller uid → when a pod of it was last evicted here."""
        self._given_up: set[str] = set()
        self._eviction_version: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="missed credentials", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        next_scan = 0.0
        next_eviction = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_scan:
                if not self._ready():
                    self._stopping.wait(_NOT_READY_POLL)
                    continue
                try:
                    self.scan()
                    next_scan = now + self._interval
                except Exception as error:
                    logger.warning(
                        "finding pods that missed their credentials failed: %s; trying again",
                        describe_api_error(error),
                    )
                    next_scan = now + min(self._interval, RETRY_AFTER_FAILURE)
            if self._repair_interval is not None and self._queue and time.monotonic() >= next_eviction:
                self._evict_next()
                next_eviction = time.monotonic() + self._repair_interval
            wake = next_scan
            if self._repair_interval is not None and self._queue:
                wake = min(wake, next_eviction)
            self._stopping.wait(max(0.0, wake - time.monotonic()))

    def scan(self) -> int:
        """One pass over every pod: report the new ones, queue repairs; returns how many missed credentials."""
        found: dict[str, ListedPod] = {}
        messages: dict[str, str] = {}
        configuration = self._configuration
        for listed in list_pods(self._api_client, item_type=ListedPod):
            meta = listed.metadata
            if not listed.active or meta.namespace in self._excluded or not meta.uid:
                continue
            pod = listed.pod
            account = pod.service_account_name
            annotations = self._service_accounts.cached(meta.namespace, account)
            if annotations is None:
                continue  # no such ServiceAccount (yet): the webhook would not inject anything either
            resolution = self._memo.resolve(
                namespace=meta.namespace,
                service_account=account,
                annotations=annotations,
                mappings=configuration.mappings,
                pod_identities=configuration.pod_identities,
            )
            containers = containers_missing_credentials(pod, resolution=resolution, settings=self._settings)
            if containers:
                found[meta.uid] = listed
                messages[meta.uid] = missed_credentials_message(
                    containers=containers,
                    service_account=f"{meta.namespace}/{account}",
                    resolution=resolution,
                    role_key=self._settings.keys.role_arn,
                    controller=listed.controller_name,
                )
        MISSED_CREDENTIALS.set(len(found))
        for uid, listed in found.items():
            if uid not in self._reported:
                self._report(listed, message=messages[uid])
        self._reported.intersection_update(found)
        self._logged.intersection_update(found)
        self._given_up.intersection_update(found)
        for uid in [uid for uid in self._queue if uid not in found]:
            del self._queue[uid]
        return len(found)

    def _report(self, listed: ListedPod, *, message: str) -> None:
        meta = listed.metadata
        where = f"{meta.namespace}/{meta.name}"
        if meta.uid not in self._logged:  # once, even while the Event cannot be written and is retried
            logger.warning(
                "pod %s missed its credentials: %s",
                where,
                message,
                extra={"namespace": meta.namespace, "pod": meta.name, "reason": EVENT_REASON},
            )
            self._logged.add(meta.uid)
        try:
            self._create_event(listed, message=message)
        except ApiException as error:
            if error.status != 409:  # 409: another replica, or this one before a restart, reported it
                logger.warning("cannot create an Event on pod %s: %s", where, describe_api_error(error))
                return
        except (urllib3.exceptions.HTTPError, OSError) as error:
            logger.warning("cannot create an Event on pod %s: %s", where, error)
            return
        self._reported.add(meta.uid)
        if self._repair_interval is not None and listed.controller is not None:
            self._queue[meta.uid] = listed

    def _create_event(self, listed: ListedPod, *, message: str) -> None:
        meta = listed.metadata
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._api.create(
            f"/api/v1/namespaces/{meta.namespace}/events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta.name[:200]}.missed-credentials.{meta.uid[:8]}",
                    "namespace": meta.namespace,
                },
                "involvedObject": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "namespace": meta.namespace,
                    "name": meta.name,
                    "uid": meta.uid,
                },
                "reason": EVENT_REASON,
                "message": message,
                "type": "Warning",
                "source": {"component": COMPONENT},
                "reportingComponent": COMPONENT,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            },
        )

    def _evict_next(self) -> None:
        uid, listed = self._queue.popitem(last=False)
        meta = listed.metadata
        where = f"{meta.namespace}/{meta.name}"
        owner = listed.controller
        if owner is None:
            return
        evicted_at = self._evicted_from.get(owner.uid)
        created = listed.created
        if evicted_at is not None and created is not None and created >= evicted_at:
            if uid not in self._given_up:
                logger.warning(
                    "pod %s replaced a pod evicted for missing credentials and lacks them too; not evicting "
                    "it: its %s creates pods the webhook does not mutate (namespace or object selectors?)",
                    where,
                    listed.controller_name,
                )
                self._given_up.add(uid)
            return
        try:
            self._evict(listed)
        except ApiException as error:
            if error.status == 429:
                logger.info(
                    "eviction of pod %s refused for now (PodDisruptionBudget); trying again later", where
                )
                REPAIR_EVICTIONS.labels(result="blocked").inc()
                self._queue[uid] = listed
            elif error.status == 404:
                REPAIR_EVICTIONS.labels(result="gone").inc()
            else:
                logger.warning(
                    "cannot evict pod %s: %s; trying again later", where, describe_api_error(error)
                )
                REPAIR_EVICTIONS.labels(result="error").inc()
                self._queue[uid] = listed
            return
        except (urllib3.exceptions.HTTPError, OSError) as error:
            logger.warning("cannot evict pod %s: %s; trying again later", where, error)
            REPAIR_EVICTIONS.labels(result="error").inc()
            self._queue[uid] = listed
            return
        self._evicted_from[owner.uid] = datetime.now(UTC)
        REPAIR_EVICTIONS.labels(result="evicted").inc()
        logger.warning(
            "evicted pod %s, which missed its credentials: its %s creates it again",
            where,
            listed.controller_name,
            extra={"namespace": meta.namespace, "pod": meta.name, "reason": EVENT_REASON},
        )

    def _evict(self, listed: ListedPod) -> None:
        meta = listed.metadata
        if self._eviction_version is None:
            # policy/v1 Eviction arrived in Kubernetes 1.22; older API servers know policy/v1beta1 only.
            self._eviction_version = "policy/v1" if self._api.get("/apis/policy/v1") else "policy/v1beta1"
        self._api.create(
            f"/api/v1/namespaces/{meta.namespace}/pods/{meta.name}/eviction",
            {
                "apiVersion": self._eviction_version,
                "kind": "Eviction",
                "metadata": {"name": meta.name, "namespace": meta.namespace},
                "deleteOptions": {"preconditions": {"uid": meta.uid}},
            },
        )
