"""`--tls-mode self`: the webhook keeps its own CA and serving certificate, with no cert-manager.

Every replica runs the same loop. The certificates live in one Secret; whoever writes first wins and
the others adopt what is there (creates fail with 409 AlreadyExists, updates carry the resourceVersion
they read and fail with 409 Conflict when someone else got there first). Each pass also makes the
MutatingWebhookConfiguration's caBundle (and the ValidatingWebhookConfiguration's, with the ServiceAccount
warnings on) match the Secret, writing only when it differs, so a
`helm upgrade` or a GitOps sync that resets it is repaired and an unchanged bundle is never rewritten.
Objects are read and written as raw JSON so fields this client library does not know survive.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from webhook import metrics
from webhook.cluster.kube_json import KubeJson
from webhook.errors import CertificateError
from webhook.tls.certificate_rotation import CertificateState, RotationPolicy, describe_change, next_state
from webhook.tls.certs import CertificateBundle, not_after, utc_now
from webhook.tls.serving import RELOAD_SOURCE, ServingTLS

SECRET_TYPE = "kubernetes.io/tls"
CERT_KEY, PRIVATE_KEY_KEY = "tls.crt", "tls.key"
CA_CERT_KEY, CA_KEY_KEY, PREVIOUS_CA_CERT_KEY = "ca.crt", "ca.key", "ca-previous.crt"
MANAGED_BY_LABEL = {"app.kubernetes.io/managed-by": "pod-identity-webhook"}
MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"
MAX_CONFLICTS = 5
FIRST_RETRY_DELAY = 1.0

logger = logging.getLogger("webhook.self_managed_tls")


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfManagedSettings:
    namespace: str
    dns_names: tuple[str, ...]
    secret_name: str
    webhook_config_name: str
    check_interval: float
    validating_webhook_config_name: str = ""
    """The ValidatingWebhookConfiguration of the ServiceAccount warnings, when they are on; it shares the
    serving certificate, so it needs the same caBundle."""
    policy: RotationPolicy = field(default_factory=RotationPolicy)


def service_dns_names(*, service: str, namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """Every name the API server may use for the Service (it dials `<service>.<namespace>.svc`)."""
    return (
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.{cluster_domain.strip('.')}",
    )


def state_from_secret_data(data: Mapping[str, str] | None) -> CertificateState | None:
    """The certificates a Secret holds, or None when any of the four required keys is missing or garbled."""
    try:
        decoded = {name: base64.b64decode(value, validate=True) for name, value in (data or {}).items()}
    except (binascii.Error, ValueError):
        return None
    if not all(decoded.get(name) for name in (CERT_KEY, PRIVATE_KEY_KEY, CA_CERT_KEY, CA_KEY_KEY)):
        return None
    bundle = CertificateBundle(
        ca_cert=decoded[CA_CERT_KEY],
        ca_key=decoded[CA_KEY_KEY],
        cert=decoded[CERT_KEY],
        key=decoded[PRIVATE_KEY_KEY],
    )
    return CertificateState(current=bundle, previous_ca_cert=decoded.get(PREVIOUS_CA_CERT_KEY) or None)


def secret_data_from_state(state: CertificateState) -> dict[str, str]:
    raw = {
        CERT_KEY: state.current.cert,
        PRIVATE_KEY_KEY: state.current.key,
        CA_CERT_KEY: state.current.ca_cert,
        CA_KEY_KEY: state.current.ca_key,
    }
    if state.previous_ca_cert:
        raw[PREVIOUS_CA_CERT_KEY] = state.previous_ca_cert
    return {name: base64.b64encode(value).decode("ascii") for name, value in raw.items()}


class SelfManagedTLS:
    """Converges the Secret, the caBundle and the served certificate, once per `check_interval`."""

    def __init__(
        self,
        *,
        api_client: ApiClient,
        serving: ServingTLS,
        settings: SelfManagedSettings,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._api = KubeJson(api_client)
        self._serving = serving
        self._settings = settings
        self._clock = clock
        self._missing_configs_reported: set[str] = set()

    async def run(self) -> None:
        """Reconcile until cancelled; failures (API down, RBAC missing) are logged and retried sooner."""
        retry_delay = FIRST_RETRY_DELAY
        while True:
            try:
                await asyncio.to_thread(self.reconcile)
            except Exception as error:
                if isinstance(error, _EXPECTED_FAILURES):
                    logger.warning("self-managed TLS: %s; retrying in %.0f s", _describe(error), retry_delay)
                else:
                    logger.exception("self-managed TLS failed unexpectedly; retrying in %.0f s", retry_delay)
                metrics.CONFIG_RELOADS.labels(source=RELOAD_SOURCE, result="error").inc()
                await asyncio.sleep(retry_delay)
                retry_delay = min(retry_delay * 2, self._settings.check_interval)
                continue
            retry_delay = FIRST_RETRY_DELAY
            await asyncio.sleep(self._settings.check_interval)

    def reconcile(self) -> None:
        """One pass (blocking): bring the Secret up to date, publish its CA bundle, serve its certificate."""
        state = self._converge_secret()
        metrics.CA_EXPIRY.set(not_after(state.current.ca_cert).timestamp())
        if self._serving.certificate != state.current.cert:
            expiry = self._serving.load_pem(cert=state.current.cert, key=state.current.key)
            logger.info(
                "serving the certificate from Secret %s (expires %s)", self._secret_ref, expiry.isoformat()
            )
            metrics.CONFIG_RELOADS.labels(source=RELOAD_SOURCE, result="success").inc()

    def _converge_secret(self) -> CertificateState:
        """The state the Secret holds after this pass, its CA bundle already published."""
        settings = self._settings
        for _attempt in range(MAX_CONFLICTS):
            secret = self._api.get(self._secret_path)
            stored = state_from_secret_data(secret.get("data") if secret else None)
            if stored is not None:
                # A CA added by an earlier pass must be trusted before a certificate it signed is served.
                self._publish_ca_bundle(stored.ca_bundle)
            desired = next_state(
                stored, dns_names=settings.dns_names, now=self._clock(), policy=settings.policy
            )
            if desired is stored:
                return stored
            try:
                self._write_secret(secret, desired)
            except ApiException as error:
                if error.status != 409:
                    raise
                logger.info(
                    "another replica updated Secret %s first; adopting its certificates", self._secret_ref
                )
                continue
            logger.info(
                "self-managed TLS: %s in Secret %s", describe_change(stored, desired), self._secret_ref
            )
            self._publish_ca_bundle(desired.ca_bundle)
            return desired
        raise CertificateError(
            f"Secret {self._secret_ref} kept changing during {MAX_CONFLICTS} attempts to update it"
        )

    def _write_secret(self, secret: dict[str, Any] | None, state: CertificateState) -> None:
        """Create the Secret, or replace it at the resourceVersion it was read at (409 if that is stale)."""
        settings = self._settings
        data = secret_data_from_state(state)
        if secret is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": settings.secret_name,
                    "namespace": settings.namespace,
                    "labels": MANAGED_BY_LABEL,
                },
                "type": SECRET_TYPE,
                "data": data,
            }
            self._api.create(f"/api/v1/namespaces/{settings.namespace}/secrets", body)
            return
        kept = {name: value for name, value in (secret.get("data") or {}).items() if name not in _OWNED_KEYS}
        self._api.replace(self._secret_path, {**secret, "data": {**kept, **data}})

    def _publish_ca_bundle(self, bundle: bytes) -> None:
        """Write the bundle into every webhook of the configurations, only where it differs."""
        settings = self._settings
        self._publish_ca_bundle_to(MUTATING, settings.webhook_config_name, bundle=bundle)
        if settings.validating_webhook_config_name:
            self._publish_ca_bundle_to(VALIDATING, settings.validating_webhook_config_name, bundle=bundle)

    def _publish_ca_bundle_to(self, kind: str, name: str, *, bundle: bytes) -> None:
        path = f"/apis/admissionregistration.k8s.io/v1/{kind.lower()}s/{name}"
        encoded = base64.b64encode(bundle).decode("ascii")
        for _attempt in range(MAX_CONFLICTS):
            configuration = self._api.get(path)
            if configuration is None:
                self._report_missing_config(kind, name)
                return
            self._missing_configs_reported.discard(kind)
            webhooks: Sequence[dict[str, Any]] = configuration.get("webhooks") or ()
            stale = [hook for hook in webhooks if hook.get("clientConfig", {}).get("caBundle") != encoded]
            if not stale:
                return
            for hook in stale:
                hook.setdefault("clientConfig", {})["caBundle"] = encoded
            try:
                self._api.replace(path, configuration)
            except ApiException as error:
                if error.status != 409:
                    raise
                continue
            logger.info("wrote the CA bundle into %d webhook(s) of %s %s", len(stale), kind, name)
            return
        raise CertificateError(f"{kind} {name} kept changing while its caBundle was written")

    def _report_missing_config(self, kind: str, name: str) -> None:
        if kind not in self._missing_configs_reported:
            logger.warning("%s %s does not exist (yet); its caBundle is written once it does", kind, name)
            self._missing_configs_reported.add(kind)

    @property
    def _secret_path(self) -> str:
        return f"/api/v1/namespaces/{self._settings.namespace}/secrets/{self._settings.secret_name}"

    @property
    def _secret_ref(self) -> str:
        return f"{self._settings.namespace}/{self._settings.secret_name}"


_EXPECTED_FAILURES = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, CertificateError)
"""The API server down, unreachable or refusing (RBAC), or data that cannot be used: logged in one line."""
_OWNED_KEYS = frozenset({CERT_KEY, PRIVATE_KEY_KEY, CA_CERT_KEY, CA_KEY_KEY, PREVIOUS_CA_CERT_KEY})


def _describe(error: Exception) -> str:
    """The API server's own explanation when there is one (a 403 names the missing permission)."""
    if isinstance(error, ApiException):
        try:
            message = json.loads(error.body or "")["message"]
        except (ValueError, KeyError, TypeError):
            message = error.reason
        return f"the API server answered {error.status}: {message}"
    return str(error) or type(error).__name__
