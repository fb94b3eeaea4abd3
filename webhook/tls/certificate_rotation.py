"""When the self-managed CA and serving certificate are created, renewed and retired: a pure function of
what is stored and the time, so every replica reaches the same decision and tests can move the clock.

Timeline (defaults: CA 5 years, serving certificate 1 year, renewal in the last third of a lifetime):
1. no usable CA → a new CA and a serving certificate it signs;
2. serving certificate in its last third, expired, for other names, or not matching its key → a new one
   from the current CA;
3. CA in its last third → a new CA; the old one stays in the caBundle as the previous CA and keeps
   vouching for the serving certificate it signed;
4. once the new CA has been in the caBundle for `propagation_delay` → a serving certificate from it;
5. once that certificate has been served for `ca_overlap` (or the previous CA expired) → the previous CA
   leaves the caBundle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509

from webhook.errors import CertificateError
from webhook.tls.certs import (
    DEFAULT_CA_VALIDITY,
    DEFAULT_CERT_VALIDITY,
    RENEWAL_FRACTION,
    CertificateBundle,
    covers_dns_names,
    generate_bundle,
    generate_ca,
    in_renewal_window,
    is_expired,
    is_issued_by,
    issue_serving_certificate,
    issued_at,
    key_matches,
    load_certificate,
)

DEFAULT_PROPAGATION_DELAY = timedelta(minutes=5)
DEFAULT_CA_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationPolicy:
    ca_validity: timedelta = DEFAULT_CA_VALIDITY
    cert_validity: timedelta = DEFAULT_CERT_VALIDITY
    renewal_fraction: float = RENEWAL_FRACTION
    propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY
    """How long a new CA sits in the caBundle before a certificate it signed is served: time for every
    API server to see the updated webhook configuration."""
    ca_overlap: timedelta = DEFAULT_CA_OVERLAP
    """How long the previous CA stays trusted after the first certificate from its successor: time for
    every replica to pick that certificate up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateState:
    """What the Secret holds: the current CA and serving pair, and the CA being retired, if any."""

    current: CertificateBundle
    previous_ca_cert: bytes | None = None

    @property
    def ca_bundle(self) -> bytes:
        """What API servers must trust: the current CA, then the previous one during a rotation."""
        return b"".join(_with_newline(pem) for pem in (self.current.ca_cert, self.previous_ca_cert) if pem)


def next_state(
    state: CertificateState | None, *, dns_names: Sequence[str], now: datetime, policy: RotationPolicy
) -> CertificateState:
    """The state to store now; `state` itself (the same object) when nothing is due."""
    if state is None or not _usable_ca(state.current, now=now):
        bundle = generate_bundle(
            dns_names=dns_names, ca_validity=policy.ca_validity, cert_validity=policy.cert_validity, now=now
        )
        return CertificateState(current=bundle)
    if state.previous_ca_cert is not None and _previous_ca_retired(state, now=now, policy=policy):
        return replace(state, previous_ca_cert=None)
    current = state.current
    broken = not _serving_usable(current, now=now) or not covers_dns_names(current.cert, dns_names)
    if not broken and state.previous_ca_cert is None and _in_renewal_window(current.ca_cert, now, policy):
        ca = generate_ca(validity=policy.ca_validity, now=now)
        rotated = replace(current, ca_cert=ca.cert, ca_key=ca.key)
        return CertificateState(current=rotated, previous_ca_cert=current.ca_cert)
    if broken or _renewal_due(state, now=now, policy=policy):
        serving = issue_serving_certificate(
            ca=current.ca, dns_names=dns_names, validity=policy.cert_validity, now=now
        )
        return replace(state, current=replace(current, cert=serving.cert, key=serving.key))
    return state


def describe_change(before: CertificateState | None, after: CertificateState) -> str:
    """One sentence for the log saying what `next_state` did."""
    if before is None:
        return "created a new CA and serving certificate"
    if after.current.ca_cert != before.current.ca_cert:
        if after.previous_ca_cert == before.current.ca_cert:
            return "started a CA rotation: new CA added, the previous CA stays in the caBundle meanwhile"
        return "replaced an unusable CA with a new CA and serving certificate"
    if after.previous_ca_cert != before.previous_ca_cert:
        return "finished a CA rotation: the previous CA left the caBundle"
    return "issued a new serving certificate"


def _usable_ca(bundle: CertificateBundle, *, now: datetime) -> bool:
    try:
        constraints = load_certificate(bundle.ca_cert).extensions.get_extension_for_class(
            x509.BasicConstraints
        )
        return (
            constraints.value.ca
            and key_matches(cert=bundle.ca_cert, key=bundle.ca_key)
            and not is_expired(bundle.ca_cert, now=now)
        )
    except (CertificateError, x509.ExtensionNotFound):
        return False


def _previous_ca_retired(state: CertificateState, *, now: datetime, policy: RotationPolicy) -> bool:
    assert state.previous_ca_cert is not None
    try:
        if is_expired(state.previous_ca_cert, now=now):
            return True
    except CertificateError:
        return True
    current = state.current
    return _serving_usable(current, now=now) and (
        is_issued_by(current.cert, current.ca_cert) and now - issued_at(current.cert) >= policy.ca_overlap
    )


def _renewal_due(state: CertificateState, *, now: datetime, policy: RotationPolicy) -> bool:
    """For a usable certificate: in its last third, or signed by a retiring CA whose successor has been
    published long enough for API servers to trust it."""
    bundle = state.current
    if is_issued_by(bundle.cert, bundle.ca_cert):
        return _in_renewal_window(bundle.cert, now, policy)
    if state.previous_ca_cert is None or not is_issued_by(bundle.cert, state.previous_ca_cert):
        return True
    return now - issued_at(bundle.ca_cert) >= policy.propagation_delay


def _in_renewal_window(pem: bytes, now: datetime, policy: RotationPolicy) -> bool:
    return in_renewal_window(pem, now=now, fraction=policy.renewal_fraction)


def _serving_usable(bundle: CertificateBundle, *, now: datetime) -> bool:
    try:
        return key_matches(cert=bundle.cert, key=bundle.key) and not is_expired(bundle.cert, now=now)
    except CertificateError:
        return False


def _with_newline(pem: bytes) -> bytes:
    return pem if pem.endswith(b"\n") else pem + b"\n"
