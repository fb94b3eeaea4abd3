"""The self-managed certificate timeline, decided by `next_state` with a clock the tests move."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from webhook.tls.certificate_rotation import CertificateState, RotationPolicy, describe_change, next_state
from webhook.tls.certs import (
    covers_dns_names,
    generate_bundle,
    is_issued_by,
    issue_serving_certificate,
    issued_at,
    not_after,
)

NAMES = ("webhook", "webhook.ns", "webhook.ns.svc", "webhook.ns.svc.cluster.local")
START = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = RotationPolicy(
    ca_validity=90 * DAY, cert_validity=30 * DAY, propagation_delay=timedelta(hours=1), ca_overlap=2 * DAY
)


def plan(state: CertificateState | None, when: datetime) -> CertificateState:
    return next_state(state, dns_names=NAMES, now=when, policy=POLICY)


def trusted_by_bundle(state: CertificateState, when: datetime) -> bool:
    """Whether a client trusting exactly the published caBundle accepts the serving certificate."""
    store = Store(x509.load_pem_x509_certificates(state.ca_bundle))
    verifier = PolicyBuilder().store(store).time(when).build_server_verifier(x509.DNSName("webhook.ns.svc"))
    try:
        verifier.verify(x509.load_pem_x509_certificate(state.current.cert), [])
    except x509.verification.VerificationError:
        return False
    return True


def serving_issued_at(state: CertificateState, when: datetime) -> CertificateState:
    serving = issue_serving_certificate(
        ca=state.current.ca, dns_names=NAMES, validity=POLICY.cert_validity, now=when
    )
    return replace(state, current=replace(state.current, cert=serving.cert, key=serving.key))


@pytest.fixture(scope="module")
def fresh() -> CertificateState:
    return plan(None, START)


@pytest.fixture(scope="module")
def rotation_start() -> datetime:
    """Day 61: the CA (90 days) is in its last third, the serving certificate (issued day 60) is not."""
    return START + 61 * DAY


@pytest.fixture(scope="module")
def rotated(fresh: CertificateState, rotation_start: datetime) -> CertificateState:
    return plan(serving_issued_at(fresh, START + 60 * DAY), rotation_start)


def test_nothing_stored_creates_a_ca_and_a_certificate_for_the_service(fresh: CertificateState) -> None:
    assert covers_dns_names(fresh.current.cert, NAMES)
    assert is_issued_by(fresh.current.cert, fresh.current.ca_cert)
    assert fresh.previous_ca_cert is None
    assert fresh.ca_bundle == fresh.current.ca_cert
    assert trusted_by_bundle(fresh, START)


@pytest.mark.parametrize("elapsed", [timedelta(0), 10 * DAY, 19 * DAY])
def test_a_valid_state_is_kept_as_it_is(fresh: CertificateState, elapsed: timedelta) -> None:
    assert plan(fresh, START + elapsed) is fresh


def test_serving_certificate_in_its_last_third_is_reissued_from_the_same_ca(fresh: CertificateState) -> None:
    later = plan(fresh, START + 21 * DAY)
    assert later.current.ca_cert == fresh.current.ca_cert
    assert later.current.cert != fresh.current.cert
    assert is_issued_by(later.current.cert, fresh.current.ca_cert)
    assert not_after(later.current.cert) == START + 51 * DAY
    assert describe_change(fresh, later) == "issued a new serving certificate"


def test_certificate_for_other_names_is_reissued_at_once(fresh: CertificateState) -> None:
    moved = next_state(fresh, dns_names=("renamed.ns.svc",), now=START + DAY, policy=POLICY)
    assert covers_dns_names(moved.current.cert, ("renamed.ns.svc",))
    assert moved.current.ca_cert == fresh.current.ca_cert


@pytest.mark.parametrize("broken", ["key of another certificate", "expired certificate"])
def test_unusable_serving_pair_is_reissued_from_the_same_ca(fresh: CertificateState, broken: str) -> None:
    other = generate_bundle(dns_names=NAMES, now=START)
    states = {
        "key of another certificate": replace(fresh, current=replace(fresh.current, key=other.key)),
        "expired certificate": fresh,
    }
    when = START + 31 * DAY if broken == "expired certificate" else START
    repaired = plan(states[broken], when)
    assert repaired.current.ca_cert == fresh.current.ca_cert
    assert trusted_by_bundle(repaired, when)


@pytest.mark.parametrize("broken", ["ca key of another ca", "garbage ca", "expired ca"])
def test_unusable_ca_starts_over(fresh: CertificateState, broken: str) -> None:
    other = generate_bundle(dns_names=NAMES, now=START)
    states = {
        "ca key of another ca": replace(fresh, current=replace(fresh.current, ca_key=other.ca_key)),
        "garbage ca": replace(fresh, current=replace(fresh.current, ca_cert=b"garbage")),
        "expired ca": fresh,
    }
    when = START + 91 * DAY if broken == "expired ca" else START
    replaced = plan(states[broken], when)
    assert replaced.current.ca_cert != fresh.current.ca_cert
    assert replaced.previous_ca_cert is None
    assert trusted_by_bundle(replaced, when)
    assert (
        describe_change(states[broken], replaced)
        == "replaced an unusable CA with a new CA and serving certificate"
    )


def test_ca_in_its_last_third_is_rotated_with_the_old_ca_kept_in_the_bundle(
    fresh: CertificateState, rotated: CertificateState, rotation_start: datetime
) -> None:
    assert rotated.previous_ca_cert == fresh.current.ca_cert
    assert rotated.current.ca_cert != fresh.current.ca_cert
    assert is_issued_by(rotated.current.cert, fresh.current.ca_cert), "a CA is trusted before it signs"
    assert rotated.ca_bundle == rotated.current.ca_cert + fresh.current.ca_cert
    assert trusted_by_bundle(rotated, rotation_start)


def test_certificate_from_the_new_ca_waits_for_the_bundle_to_propagate(
    rotated: CertificateState, rotation_start: datetime
) -> None:
    assert plan(rotated, rotation_start + timedelta(minutes=30)) is rotated
    switched = plan(rotated, rotation_start + timedelta(hours=1))
    assert is_issued_by(switched.current.cert, rotated.current.ca_cert)
    assert switched.previous_ca_cert == rotated.previous_ca_cert
    assert trusted_by_bundle(switched, rotation_start + timedelta(hours=1))
    assert describe_change(rotated, switched) == "issued a new serving certificate"


def test_previous_ca_leaves_the_bundle_after_the_overlap(
    rotated: CertificateState, rotation_start: datetime
) -> None:
    switched_at = rotation_start + timedelta(hours=1)
    switched = plan(rotated, switched_at)
    assert plan(switched, switched_at + DAY) is switched
    finished = plan(switched, switched_at + 2 * DAY)
    assert finished.previous_ca_cert is None
    assert finished.ca_bundle == switched.current.ca_cert
    assert trusted_by_bundle(finished, switched_at + 2 * DAY)
    assert describe_change(switched, finished).startswith("finished a CA rotation")


def test_broken_certificate_is_fixed_before_a_due_ca_rotation(fresh: CertificateState) -> None:
    expired_meanwhile = START + 61 * DAY
    repaired = plan(fresh, expired_meanwhile)
    assert repaired.previous_ca_cert is None
    assert is_issued_by(repaired.current.cert, fresh.current.ca_cert)
    assert trusted_by_bundle(repaired, expired_meanwhile)


def test_expired_previous_ca_leaves_the_bundle(fresh: CertificateState) -> None:
    retired = replace(
        fresh, previous_ca_cert=generate_bundle(dns_names=NAMES, ca_validity=DAY, now=START).ca_cert
    )
    assert plan(retired, START + 2 * DAY).previous_ca_cert is None


def test_over_three_ca_lifetimes_the_served_certificate_is_always_trusted() -> None:
    """Every 6 hours for 270 days: the certificate in the Secret verifies against the caBundle published
    alongside it, and a certificate from a new CA only appears once that CA has been published for the
    propagation delay."""
    state = plan(None, START)
    published_at = {state.current.ca_cert: START}
    rotations = 0
    when = START
    while when < START + 270 * DAY:
        when += timedelta(hours=6)
        following = plan(state, when)
        if following.current.ca_cert != state.current.ca_cert:
            rotations += 1
            published_at.setdefault(following.current.ca_cert, when)
        signer = (
            following.current.ca_cert
            if is_issued_by(following.current.cert, following.current.ca_cert)
            else None
        )
        if signer is not None and following.current.cert != state.current.cert:
            assert when - published_at[signer] >= POLICY.propagation_delay
        assert trusted_by_bundle(following, when)
        state = following
    assert rotations >= 4
    assert issued_at(state.current.ca_cert) > START + 180 * DAY


@pytest.mark.parametrize("previous", ["expired", "unreadable"])
def test_a_previous_ca_that_cannot_be_trusted_leaves_the_bundle_before_the_overlap_ends(
    fresh: CertificateState, previous: str
) -> None:
    expired = generate_bundle(dns_names=NAMES, ca_validity=DAY, now=START).ca_cert
    retired = replace(fresh, previous_ca_cert=expired if previous == "expired" else b"not a pem")

    assert plan(retired, START + DAY + 12 * timedelta(hours=1)).previous_ca_cert is None


def test_a_certificate_from_neither_ca_is_reissued_from_the_current_one_during_a_rotation(
    rotated: CertificateState, rotation_start: datetime
) -> None:
    stranger = generate_bundle(dns_names=NAMES, now=rotation_start)
    tampered = replace(rotated, current=replace(rotated.current, cert=stranger.cert, key=stranger.key))

    repaired = plan(tampered, rotation_start + timedelta(minutes=1))

    assert is_issued_by(repaired.current.cert, rotated.current.ca_cert)
    assert trusted_by_bundle(repaired, rotation_start + timedelta(minutes=1))
