"""The identity memo answers what `resolve_identity` would, and sees every replaced input at once."""

from __future__ import annotations

import json
from functools import partial

from webhook.engine.identity import Mode, Source
from webhook.engine.identity_memo import IdentityMemo
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings

ROLE = "arn:aws:iam::111122223333:role/checkout"
OTHER_ROLE = "arn:aws:iam::111122223333:role/payments"
NO_MAPPINGS = RoleMappings()
NO_ASSOCIATIONS = PodIdentityAssociations()


def annotated(role: str) -> dict[str, str]:
    return {"eks.amazonaws.com/role-arn": role}


def mapped(role: str) -> RoleMappings:
    return RoleMappings.parse(json.dumps({"shop/checkout": {"RoleARN": role}}))


def resolve(
    memo: IdentityMemo,
    annotations: dict[str, str] | None,
    *,
    name: str = "checkout",
    mappings: RoleMappings = NO_MAPPINGS,
    pod_identities: PodIdentityAssociations = NO_ASSOCIATIONS,
) -> str | None:
    """The role the memo gives shop/<name>, or the mode's name in Pod Identity mode."""
    resolution = memo.resolve(
        namespace="shop",
        service_account=name,
        annotations=annotations,
        mappings=mappings,
        pod_identities=pod_identities,
    )
    identity = resolution.identity
    if identity is None:
        return None
    return identity.role_arn if identity.mode is Mode.IRSA else identity.mode.value


def test_the_same_inputs_are_answered_from_memory() -> None:
    memo = IdentityMemo(settings=MutationSettings())
    annotations = annotated(ROLE)
    resolve = partial(
        memo.resolve,
        namespace="shop",
        service_account="checkout",
        annotations=annotations,
        mappings=NO_MAPPINGS,
        pod_identities=NO_ASSOCIATIONS,
    )

    first = resolve()
    second = resolve()

    assert second is first
    assert first.source is Source.ANNOTATION


def test_replaced_annotations_give_the_new_role() -> None:
    memo = IdentityMemo(settings=MutationSettings())
    resolve(memo, annotated(ROLE))

    assert resolve(memo, annotated(OTHER_ROLE)) == OTHER_ROLE


def test_replaced_mappings_give_the_new_role() -> None:
    memo = IdentityMemo(settings=MutationSettings())
    resolve(memo, {}, mappings=mapped(ROLE))

    assert resolve(memo, {}, mappings=mapped(OTHER_ROLE)) == OTHER_ROLE


def test_a_new_pod_identity_association_wins_over_the_remembered_role() -> None:
    memo = IdentityMemo(settings=MutationSettings())
    annotations = annotated(ROLE)
    resolve(memo, annotations)

    associations = PodIdentityAssociations(frozenset({("shop", "checkout")}))

    assert resolve(memo, annotations, pod_identities=associations) == Mode.POD_IDENTITY.value


def test_a_serviceaccount_that_appears_gets_its_role() -> None:
    memo = IdentityMemo(settings=MutationSettings())
    assert resolve(memo, None) is None

    assert resolve(memo, annotated(ROLE)) == ROLE


def test_a_full_memo_starts_over_and_still_answers_each_serviceaccount() -> None:
    memo = IdentityMemo(settings=MutationSettings(), limit=2)
    roles = {name: f"arn:aws:iam::111122223333:role/{name}" for name in ("a", "b", "c", "d", "e")}
    annotations = {name: annotated(role) for name, role in roles.items()}

    for _ in range(2):
        for name, role in roles.items():
            assert resolve(memo, annotations[name], name=name) == role
