"""Answering a ServiceAccount review (`POST /validate-serviceaccount`): always allowed, with warnings.

The chart registers this endpoint in a ValidatingWebhookConfiguration with `failurePolicy: Ignore`: a
ServiceAccount is never refused or delayed because of the webhook, only told, in the admission warnings
`kubectl` prints, what the webhook will not read or will read differently from what was written.
"""

from __future__ import annotations

import logging

from webhook import metrics
from webhook.engine.serviceaccount_warnings import serviceaccount_warnings
from webhook.engine.settings import MutationSettings
from webhook.errors import BadRequestError
from webhook.server.admission import Answer, IdentityConfiguration
from webhook.server.admission_review import decode_serviceaccount_review, encode_error, encode_response

log = logging.getLogger("webhook.serviceaccount_review")

VALIDATE_SERVICEACCOUNT_PATH = "/validate-serviceaccount"


class ServiceAccountReviewer:
    def __init__(self, *, settings: MutationSettings, configuration: IdentityConfiguration) -> None:
        self._settings = settings
        self._configuration = configuration

    def answer(self, body: bytes) -> Answer:
        try:
            api_version, request = decode_serviceaccount_review(body)
        except BadRequestError as error:
            log.warning("rejected malformed ServiceAccount review: %s", error)
            metrics.SERVICEACCOUNT_REVIEWS.labels(result="bad_request").inc()
            return Answer(400, encode_error(str(error)))
        metadata = request.object.metadata if request.object else None
        warnings: list[str] = []
        if metadata is not None and request.operation in ("CREATE", "UPDATE"):
            namespace = request.namespace or metadata.namespace or "default"
            name = metadata.name or request.name
            warnings = serviceaccount_warnings(
                namespace=namespace,
                name=name,
                annotations=metadata.annotations or {},
                pod_identities=self._configuration.pod_identities,
                settings=self._settings,
            )
            for warning in warnings:
                log.warning(warning, extra={"namespace": namespace, "serviceaccount": name})
        metrics.SERVICEACCOUNT_REVIEWS.labels(result="warned" if warnings else "clean").inc()
        return Answer(
            200, encode_response(api_version=api_version, uid=request.uid, patch=None, warnings=warnings)
        )

    def refuse(self, *, status: int, reason: str, started: float) -> Answer:
        """A request turned away before it was read (wrong method or content type, too large)."""
        del started  # reviews of ServiceAccounts are counted, not timed
        log.warning("rejected ServiceAccount review with HTTP %d: %s", status, reason)
        metrics.SERVICEACCOUNT_REVIEWS.labels(result="bad_request").inc()
        return Answer(status, encode_error(reason))
