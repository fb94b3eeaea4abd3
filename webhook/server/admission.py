"""Answering one admission request: decode, find the identity, mutate, encode. No HTTP here.

The webhook fails open: a good request that hits an internal error is allowed without a patch and the
user is told in a warning, so a webhook fault never stops pods from being created.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol

from webhook import metrics
from webhook.engine.identity_memo import IdentityMemo
from webhook.engine.mappings import RoleMappings
from webhook.engine.mutation import mutate, pod_is_skipped
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.pod_view import Pod
from webhook.engine.settings import MutationSettings
from webhook.errors import BadRequestError, ServiceAccountSourceError
from webhook.server.admission_review import AdmissionRequest, decode_review, encode_error, encode_response

log = logging.getLogger("webhook.admission")

MAX_CONTAINERS = 1000
"""Containers and init containers a pod may have for the webhook to patch it. Real pods have a handful; the
patch grows with every one, so without a bound a crafted review of a few MB could ask for an answer a
hundred times its size and hold the event loop for seconds."""

FAILED_OPEN_WARNING = (
    "pod-identity-webhook could not process this pod and admitted it without AWS credentials: {reason}"
)


class ServiceAccountLookup(Protocol):
    def cached(self, namespace: str, name: str) -> Mapping[str, str] | None: ...

    async def fetch(self, namespace: str, name: str) -> Mapping[str, str] | None: ...


class IdentityConfiguration(Protocol):
    """The operator's mappings and Pod Identity associations, replaced wholesale by their watchers."""

    @property
    def mappings(self) -> RoleMappings: ...

    @property
    def pod_identities(self) -> PodIdentityAssociations: ...


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


class AdmissionHandler:
    def __init__(
        self,
        *,
        settings: MutationSettings,
        service_accounts: ServiceAccountLookup,
        configuration: IdentityConfiguration,
    ) -> None:
        self._settings = settings
        self._service_accounts = service_accounts
        self._configuration = configuration
        self._identities = IdentityMemo(settings=settings)

    def answer(self, body: bytes) -> Answer | Awaitable[Answer]:
        """The answer at once when no I/O is needed, which is every pod whose ServiceAccount is cached;
        otherwise something to await while the ServiceAccount is fetched. Answering at once lets the HTTP
        layer write it without an event-loop task per request (benchmarks/hot_path.md, round 6)."""
        started = time.perf_counter()
        try:
            api_version, request = decode_review(body)
        except BadRequestError as error:
            log.warning("rejected malformed admission request: %s", error)
            metrics.ADMISSION.answered("bad_request", time.perf_counter() - started)
            return Answer(400, encode_error(str(error)))
        try:
            outcome = self._review(request)
        except Exception as error:  # any fault of ours must not block the pod
            outcome = _failed_open(request, error)
        if isinstance(outcome, _Lookup):
            return self._answer_after_fetch(
                outcome, api_version=api_version, request=request, started=started
            )
        return _answered(outcome, api_version=api_version, uid=request.uid, started=started)

    def refuse(self, *, status: int, reason: str, started: float) -> Answer:
        """A request turned away before it was read as a review (wrong method or content type, too large):
        logged and counted as a bad request like a malformed review, so an oversized pod is never silent."""
        log.warning("rejected admission request with HTTP %d: %s", status, reason)
        metrics.ADMISSION.answered("bad_request", time.perf_counter() - started)
        return Answer(status, encode_error(reason))

    async def _answer_after_fetch(
        self, lookup: _Lookup, *, api_version: str, request: AdmissionRequest, started: float
    ) -> Answer:
        """The rest of `answer` for a pod whose ServiceAccount is not in the cache: read it from the API."""
        namespace, name = lookup.namespace, lookup.name
        outcome: _Outcome
        try:
            annotations = await self._service_accounts.fetch(namespace, name)
        except ServiceAccountSourceError as error:
            log.warning("serviceaccount %s/%s: %s; pod admitted unchanged", namespace, name, error)
            outcome = None, [FAILED_OPEN_WARNING.format(reason=str(error))], "failed_open"
        else:
            try:
                outcome = self._mutate(
                    request, pod=lookup.pod, namespace=namespace, name=name, annotations=annotations
                )
            except Exception as error:  # any fault of ours must not block the pod
                outcome = _failed_open(request, error)
        return _answered(outcome, api_version=api_version, uid=request.uid, started=started)

    def _review(self, request: AdmissionRequest) -> _Outcome | _Lookup:
        pod = request.object
        settings = self._settings
        if pod is None or request.operation not in ("", "CREATE") or pod_is_skipped(pod, settings):
            return None, [], "unchanged"
        spec = pod.pod_spec
        containers = len(spec.containers or ()) + len(spec.initContainers or ())
        if containers > MAX_CONTAINERS:
            log.warning("pod %s has %d containers; pod admitted unchanged", pod.display_name, containers)
            reason = f"the pod has {containers} containers, more than the {MAX_CONTAINERS} it handles"
            return None, [FAILED_OPEN_WARNING.format(reason=reason)], "failed_open"
        namespace = request.namespace or pod.meta.namespace or "default"
        name = pod.service_account_name
        annotations = self._service_accounts.cached(namespace, name)
        if annotations is None:
            return _Lookup(pod=pod, namespace=namespace, name=name)
        return self._mutate(request, pod=pod, namespace=namespace, name=name, annotations=annotations)

    def _mutate(
        self,
        request: AdmissionRequest,
        *,
        pod: Pod,
        namespace: str,
        name: str,
        annotations: Mapping[str, str] | None,
    ) -> _Outcome:
        configuration = self._configuration
        resolution = self._identities.resolve(
            namespace=namespace,
            service_account=name,
            annotations=annotations,
            mappings=configuration.mappings,
            pod_identities=configuration.pod_identities,
        )
        if resolution.identity is None:
            return None, list(resolution.warnings), "unchanged"
        mutation = mutate(pod, resolution.identity, self._settings)
        warnings = [*resolution.warnings, *mutation.warnings]
        if warnings:
            context = {"namespace": namespace, "pod": pod.display_name, "serviceaccount": name}
            for warning in warnings:
                log.warning("pod %s/%s: %s", namespace, pod.display_name, warning, extra=context)
        if not mutation.patch_json:
            return None, warnings, "unchanged"
        mode = resolution.identity.mode.value
        metrics.ADMISSION.mutated(mode)
        if log.isEnabledFor(logging.DEBUG):  # the arguments alone cost more than a disabled call saves
            log.debug(
                "mutated pod %s/%s (serviceaccount %s, %s, %s)%s",
                namespace,
                pod.display_name,
                name,
                mode,
                resolution.source.value,
                " [dry run]" if request.dryRun else "",
                extra={
                    "namespace": namespace,
                    "pod": pod.display_name,
                    "serviceaccount": name,
                    "mode": mode,
                    "source": resolution.source.value,
                    "dry_run": bool(request.dryRun),
                },
            )
        return mutation.patch_json, warnings, "mutated"


_Outcome = tuple[bytes | None, list[str], str]
"""(patch, warnings, result for the metrics) of one review."""


@dataclass(frozen=True, slots=True)
class _Lookup:
    """The pod's ServiceAccount is not cached: it has to be read from the API before the pod is answered."""

    pod: Pod
    namespace: str
    name: str


def _failed_open(request: AdmissionRequest, error: Exception) -> _Outcome:
    log.error("admission request %s failed; pod admitted unchanged", request.uid, exc_info=error)
    return None, [FAILED_OPEN_WARNING.format(reason=_describe(error))], "failed_open"


def _answered(outcome: _Outcome, *, api_version: str, uid: str, started: float) -> Answer:
    patch, warnings, result = outcome
    payload = encode_response(api_version=api_version, uid=uid, patch=patch, warnings=warnings)
    metrics.ADMISSION.answered(result, time.perf_counter() - started)
    return Answer(200, payload)


def _describe(error: Exception) -> str:
    return f"internal error ({type(error).__name__}); see the webhook's log"
