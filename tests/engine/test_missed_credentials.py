"""Which running pods missed their credentials: exactly those the mutation would still give credentials to."""

from __future__ import annotations

import pytest

from tests.engine.support import (
    IRSA_MOUNT_PATH,
    IRSA_TOKEN_FILE,
    ROLE_ARN,
    Json,
    container,
    irsa,
    pod,
    pod_identity,
)
from webhook.engine.identity import Identity, Resolution, Source
from webhook.engine.missed_credentials import (
    containers_missing_credentials,
    missed_credentials_message,
    what_to_do,
)
from webhook.engine.pod_view import pod_from_object
from webhook.engine.settings import MutationSettings

MUTATED_ENV = {"AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN_FILE}
MUTATED_MOUNT = {"aws-iam-token": IRSA_MOUNT_PATH}
OWN_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "x", "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/own"}


IRSA = irsa()


def missing(
    stored: Json, *, identity: Identity | None = IRSA, settings: MutationSettings | None = None
) -> tuple[str, ...]:
    source = Source.ANNOTATION if identity else Source.NO_ROLE
    return containers_missing_credentials(
        pod_from_object(stored),
        resolution=Resolution(identity=identity, source=source),
        settings=settings or MutationSettings(),
    )


@pytest.mark.parametrize(
    ("stored", "identity", "expected"),
    [
        pytest.param(pod(), irsa(), ("app",), id="irsa-never-mutated"),
        pytest.param(pod(), pod_identity(), ("app",), id="pod-identity-never-mutated"),
        pytest.param(
            pod(container("app"), container("sidecar"), init_containers=[container("setup")]),
            irsa(),
            ("setup", "app", "sidecar"),
            id="every-container-named",
        ),
        pytest.param(
            pod(container("app", env=MUTATED_ENV, mounts=MUTATED_MOUNT), container("added-later")),
            irsa(),
            ("added-later",),
            id="only-the-ones-lacking",
        ),
        pytest.param(
            pod(container("app", env=MUTATED_ENV, mounts=MUTATED_MOUNT)), irsa(), (), id="mutated-at-creation"
        ),
        pytest.param(pod(), None, (), id="serviceaccount-without-identity"),
        pytest.param(
            pod(labels={"eks.amazonaws.com/skip-pod-identity-webhook": "true"}), irsa(), (), id="skip-label"
        ),
        pytest.param(
            pod(annotations={"eks.amazonaws.com/skip-containers": "app"}), irsa(), (), id="skip-containers"
        ),
        pytest.param(pod(container("app", env=OWN_CREDENTIALS)), irsa(), (), id="own-credentials"),
        pytest.param(
            pod(container("app", env=MUTATED_ENV, mounts=MUTATED_MOUNT)),
            irsa(role_arn="arn:aws:iam::111122223333:role/changed"),
            (),
            id="role-changed-since",
        ),
    ],
)
def test_a_pod_missed_its_credentials_when_the_mutation_would_still_add_them(
    stored: Json, identity: Identity | None, expected: tuple[str, ...]
) -> None:
    assert missing(stored, identity=identity) == expected


def test_a_region_configured_after_the_pod_started_is_not_missing_credentials() -> None:
    stored = pod(container("app", env=MUTATED_ENV, mounts=MUTATED_MOUNT))

    assert missing(stored, settings=MutationSettings(aws_default_region="eu-west-1")) == ()


@pytest.mark.parametrize(
    ("controller", "advice"),
    [
        ("ReplicaSet web-5d4f", "its ReplicaSet web-5d4f creates it again, and the new pod gets credentials"),
        (None, "this pod has no controller: create it again (delete and re-apply it) to get credentials"),
    ],
)
def test_the_message_says_why_and_what_to_do(controller: str | None, advice: str) -> None:
    message = missed_credentials_message(
        containers=("app", "sidecar"),
        service_account="shop/checkout",
        resolution=Resolution(identity=irsa(), source=Source.ANNOTATION),
        role_key="eks.amazonaws.com/role-arn",
        controller=controller,
    )

    assert message.startswith(
        "container(s) app, sidecar have no AWS credentials, but ServiceAccount shop/checkout now has an AWS "
        f"identity (IRSA: role {ROLE_ARN}, from the ServiceAccount's eks.amazonaws.com/role-arn annotation"
    )
    assert "created without the webhook" in message
    assert message.endswith(advice)
    assert advice in what_to_do(controller=controller)
