"""SPEC §4: one admission exchange, decoded and answered by `AdmissionHandler` without HTTP.

The ServiceAccount source and the operator configuration are fakes with the interface the server gives
the handler, so each test states exactly what the cluster holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.engine.support import NAMESPACE, ROLE_ARN, SERVICE_ACCOUNT, apply, container, pod, role_annotations
from tests.server.reviews import (
    admission_review,
    allowing_answer_patch,
    decoded_patch,
    encode,
    from_replicaset,
)
from tests.validation import assert_valid_pod
from webhook import metrics
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings
from webhook.errors import BadRequestError, ServiceAccountSourceError
from webhook.server.admission import MAX_CONTAINERS, AdmissionHandler, Answer
from webhook.server.admission_review import decode_review, encode_response

Json = dict[str, Any]
Key = tuple[str, str]
CHECKOUT: Key = (NAMESPACE, SERVICE_ACCOUNT)


class FakeServiceAccounts:
    """The cache (`cached`) and the direct API read after a miss (`fetch`), recording what was fetched."""

    def __init__(
        self,
        *,
        cached: Mapping[Key, Mapping[str, str]] | None = None,
        api: Mapping[Key, Mapping[str, str]] | None = None,
        fetch_error: Exception | None = None,
        cache_error: Exception | None = None,
    ) -> None:
        self._cached = dict(cached or {})
        self._api = dict(api or {})
        self._fetch_error = fetch_error
        self._cache_error = cache_error
        self.fetched: list[Key] = []

    def cached(self, namespace: str, name: str) -> Mapping[str, str] | None:
        if self._cache_error is not None:
            raise self._cache_error
        return self._cached.get((namespace, name))

    async def fetch(self, namespace: str, name: str) -> Mapping[str, str] | None:
        self.fetched.append((namespace, name))
        if self._fetch_error is not None:
            raise self._fetch_error
        return self._api.get((namespace, name))


@dataclass
class FakeConfiguration:
    mappings: RoleMappings = field(default_factory=RoleMappings)
    pod_identities: PodIdentityAssociations = field(default_factory=PodIdentityAssociations)


def answer(
    body: bytes,
    service_accounts: FakeServiceAccounts | None = None,
    *,
    configuration: FakeConfiguration | None = None,
    settings: MutationSettings | None = None,
) -> tuple[int, Json]:
    handler = AdmissionHandler(
        settings=settings or MutationSettings(),
        service_accounts=service_accounts or FakeServiceAccounts(cached={CHECKOUT: role_annotations()}),
        configuration=configuration or FakeConfiguration(),
    )
    result = settled(handler.answer(body))
    return result.status, json.loads(result.body)


def settled(answer: Answer | Awaitable[Answer]) -> Answer:
    """The handler's answer, awaited when it had to fetch the ServiceAccount first."""
    if isinstance(answer, Answer):
        return answer

    async def wait() -> Answer:
        return await answer

    return asyncio.run(wait())


def review_with(*changes: Callable[[Json], None]) -> bytes:
    """A review of a plain pod after `changes` edit it in place."""
    review = admission_review(pod())
    for change in changes:
        change(review)
    return encode(review)


def _holder(review: Json, path: tuple[str, ...]) -> Json:
    holder = review
    for key in path[:-1]:
        holder = holder[key]
    return holder


def drop(*path: str) -> Callable[[Json], None]:
    def change(review: Json) -> None:
        del _holder(review, path)[path[-1]]

    return change


def put(value: object, *path: str) -> Callable[[Json], None]:
    def change(review: Json) -> None:
        _holder(review, path)[path[-1]] = value

    return change


def requests_counted(result: str) -> float:
    return metrics.REGISTRY.get_sample_value("pod_identity_webhook_requests_total", {"result": result}) or 0.0


def pods_mutated(mode: str) -> float:
    return metrics.REGISTRY.get_sample_value("pod_identity_webhook_pods_mutated_total", {"mode": mode}) or 0.0


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_review_is_answered_in_its_own_version_with_uid_and_a_patch(api_version: str) -> None:
    original = from_replicaset(pod())
    review = admission_review(original, api_version=api_version, uid="705ab4f5-6393-11e8-b7cc-42010a800002")

    status, reply = answer(encode(review))

    assert status == 200
    patched = apply(original, allowing_answer_patch(reply, review=review))
    assert_valid_pod(patched, original=original)
    assert {"name": "AWS_ROLE_ARN", "value": ROLE_ARN} in patched["spec"]["containers"][0]["env"]


def test_pod_that_needs_nothing_is_allowed_without_patch_or_warnings() -> None:
    review = admission_review(pod())

    status, reply = answer(encode(review), FakeServiceAccounts(cached={CHECKOUT: {}}))

    assert status == 200
    assert reply["response"] == {"uid": review["request"]["uid"], "allowed": True}


def test_misconfiguration_is_reported_in_warnings() -> None:
    annotations = role_annotations(role_arn="checkout", token_expiration="60")
    original = pod(container("app", mounts={"mine": "/var/run/secrets/eks.amazonaws.com/serviceaccount"}))
    original["spec"]["volumes"] = [{"name": "mine", "emptyDir": {}}]

    _, reply = answer(encode(admission_review(original)), FakeServiceAccounts(cached={CHECKOUT: annotations}))

    warnings = reply["response"]["warnings"]
    assert any("'checkout'" in warning and "ARN" in warning for warning in warnings)
    assert any("60" in warning for warning in warnings)
    assert any("'app'" in warning and "mount" in warning for warning in warnings)


def test_dry_run_gets_the_same_answer() -> None:
    original = from_replicaset(pod())

    _, real = answer(encode(admission_review(original, uid="same", dry_run=False)))
    _, dry = answer(encode(admission_review(original, uid="same", dry_run=True)))

    assert dry == real
    assert decoded_patch(dry)


def test_pod_without_namespace_in_metadata_uses_the_request_namespace() -> None:
    original = pod()
    del original["metadata"]["namespace"]

    _, reply = answer(encode(admission_review(original, namespace=NAMESPACE)))

    assert decoded_patch(reply)


def test_cache_miss_reads_the_serviceaccount_from_the_api() -> None:
    service_accounts = FakeServiceAccounts(api={CHECKOUT: role_annotations()})

    _, reply = answer(encode(admission_review(pod())), service_accounts)

    assert service_accounts.fetched == [CHECKOUT]
    assert decoded_patch(reply)


def test_cache_hit_does_not_call_the_api() -> None:
    service_accounts = FakeServiceAccounts(cached={CHECKOUT: role_annotations()})

    answer(encode(admission_review(pod())), service_accounts)

    assert service_accounts.fetched == []


def test_serviceaccount_missing_everywhere_leaves_the_pod_alone() -> None:
    _, reply = answer(encode(admission_review(pod())), FakeServiceAccounts())

    assert decoded_patch(reply) == []
    assert reply["response"]["allowed"] is True


def test_api_failure_after_a_cache_miss_fails_open_with_a_warning() -> None:
    failing = FakeServiceAccounts(fetch_error=ServiceAccountSourceError("API server timed out after 1.0s"))
    before = requests_counted("failed_open")

    status, reply = answer(encode(admission_review(pod())), failing)

    assert status == 200
    assert reply["response"]["allowed"] is True
    assert decoded_patch(reply) == []
    assert any("timed out" in warning for warning in reply["response"]["warnings"])
    assert requests_counted("failed_open") == before + 1


@pytest.mark.parametrize(("containers", "patched"), [(MAX_CONTAINERS, True), (MAX_CONTAINERS + 1, False)])
def test_a_pod_with_more_containers_than_any_real_one_is_admitted_unpatched_with_a_warning(
    containers: int, patched: bool
) -> None:
    """Its patch would grow with every container: a crafted review must not buy a huge answer."""
    crowded = pod(*(container(f"c{number}") for number in range(containers)))
    before = requests_counted("failed_open")

    status, reply = answer(encode(admission_review(crowded)))

    assert (status, reply["response"]["allowed"]) == (200, True)
    assert bool(decoded_patch(reply)) is patched
    assert requests_counted("failed_open") == before + (0 if patched else 1)
    if not patched:
        assert f"{containers} containers" in reply["response"]["warnings"][0]


def test_unexpected_internal_error_fails_open_without_leaking_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = FakeServiceAccounts(cache_error=RuntimeError("secret internal detail"))
    before = requests_counted("failed_open")

    with caplog.at_level(logging.ERROR):
        status, reply = answer(encode(admission_review(pod(), uid="abc")), broken)

    assert status == 200
    assert reply["response"]["uid"] == "abc"
    assert reply["response"]["allowed"] is True
    assert decoded_patch(reply) == []
    (warning,) = reply["response"]["warnings"]
    assert "without AWS credentials" in warning
    assert "Traceback" not in json.dumps(reply)
    assert "secret internal detail" not in json.dumps(reply)
    assert any(
        "secret internal detail" in record.getMessage() or record.exc_info for record in caplog.records
    )
    assert requests_counted("failed_open") == before + 1


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        pytest.param(b"{not json", "JSON", id="not-json"),
        pytest.param(b"", "JSON", id="empty-body"),
        pytest.param(b"[]", "AdmissionReview", id="json-array"),
        pytest.param(
            encode({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
            "no request",
            id="no-request",
        ),
        pytest.param(
            encode({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": "pod"}),
            "AdmissionReview",
            id="request-not-an-object",
        ),
        pytest.param(
            encode({**admission_review(pod()), "kind": "Pod"}), "AdmissionReview", id="wrong-review-kind"
        ),
        pytest.param(
            encode({**admission_review(pod()), "apiVersion": "admission.k8s.io/v2"}),
            "apiVersion",
            id="unknown-review-version",
        ),
        pytest.param(
            encode(admission_review(pod(), kind={"group": "apps", "version": "v1", "kind": "Deployment"})),
            "Deployment",
            id="deployment",
        ),
        pytest.param(
            encode(admission_review(pod(), kind={"group": "", "version": "v1", "kind": "Service"})),
            "Service",
            id="core-kind-other-than-pod",
        ),
        pytest.param(
            encode(admission_review(pod(), kind={"group": "example.com", "version": "v1", "kind": "Pod"})),
            "Pod",
            id="pod-of-another-api-group",
        ),
        pytest.param(encode(admission_review(pod(), uid="")), "uid", id="empty-uid"),
        pytest.param(review_with(drop("request", "uid")), "uid", id="missing-uid"),
        pytest.param(review_with(drop("request", "kind")), "pods only", id="missing-request-kind"),
        pytest.param(review_with(drop("request", "object")), "object", id="create-without-object"),
        pytest.param(
            encode(admission_review(pod(), uid="UID-1")).replace(b'"UID-1"', b'"\xff\xfe"'),
            "not valid JSON",
            id="invalid-utf8",
        ),
        pytest.param(b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested too deep", id="nested-too-deep"),
    ],
)
def test_malformed_requests_get_400_with_a_json_error(body: bytes, complaint: str) -> None:
    before = requests_counted("bad_request")

    status, reply = answer(body)

    assert status == 400
    assert set(reply) == {"error"}
    assert complaint in reply["error"]
    assert requests_counted("bad_request") == before + 1


def test_pod_identity_association_from_configuration_is_used() -> None:
    configuration = FakeConfiguration(
        pod_identities=PodIdentityAssociations(frozenset({CHECKOUT})),
    )
    original = pod()
    before = pods_mutated("pod-identity")

    _, reply = answer(encode(admission_review(original)), configuration=configuration)

    patched = apply(original, decoded_patch(reply))
    env = {variable["name"] for variable in patched["spec"]["containers"][0]["env"]}
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env
    assert patched["metadata"]["labels"] == {"eks.amazonaws.com/pod-identity": "enabled"}
    assert pods_mutated("pod-identity") == before + 1


def test_mapping_from_configuration_is_used() -> None:
    configuration = FakeConfiguration(
        mappings=RoleMappings.parse('{"shop/checkout": {"RoleARN": "' + ROLE_ARN + '"}}')
    )
    before = pods_mutated("irsa")

    _, reply = answer(
        encode(admission_review(pod())),
        FakeServiceAccounts(cached={CHECKOUT: {}}),
        configuration=configuration,
    )

    assert decoded_patch(reply)
    assert pods_mutated("irsa") == before + 1


def test_skip_labelled_pod_is_allowed_unchanged() -> None:
    original = pod(labels={"eks.amazonaws.com/skip-pod-identity-webhook": "true"})

    _, reply = answer(encode(admission_review(original)))

    assert decoded_patch(reply) == []


def test_decode_reads_version_and_request_fields() -> None:
    review = admission_review(
        from_replicaset(pod()), api_version="admission.k8s.io/v1beta1", uid="u-1", dry_run=True
    )

    api_version, request = decode_review(encode(review))

    assert api_version == "admission.k8s.io/v1beta1"
    assert request.uid == "u-1"
    assert request.dryRun is True
    assert request.namespace == NAMESPACE
    assert request.object is not None
    assert request.object.service_account_name == SERVICE_ACCOUNT


def test_decode_rejects_a_field_of_the_wrong_type() -> None:
    review = admission_review(pod())
    review["request"]["object"]["spec"]["containers"] = "app"

    with pytest.raises(BadRequestError):
        decode_review(encode(review))


@pytest.mark.parametrize("patch", [None, b""])
def test_encode_without_a_change_has_no_patch_fields(patch: bytes | None) -> None:
    reply = json.loads(encode_response(api_version="admission.k8s.io/v1", uid="u", patch=patch, warnings=()))

    assert reply == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u", "allowed": True},
    }


def test_encode_carries_patch_and_warnings() -> None:
    patch = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]

    reply = json.loads(
        encode_response(api_version="admission.k8s.io/v1", uid="u", patch=encode(patch), warnings=["careful"])
    )

    assert decoded_patch(reply) == patch
    assert reply["response"]["warnings"] == ["careful"]


def test_an_error_answer_does_not_grow_with_what_the_client_sent() -> None:
    huge_kind = "Pod" * 100_000

    status, reply = answer(encode({**admission_review(pod()), "kind": huge_kind}))

    assert status == 400
    assert len(reply["error"]) < 400
    assert "(300002 characters)" in reply["error"]  # the value's repr: quotes included


IRSA_ENV = [
    {"name": "AWS_ROLE_ARN", "value": ROLE_ARN},
    {
        "name": "AWS_WEB_IDENTITY_TOKEN_FILE",
        "value": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    },
]
POD = ("request", "object")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param(
            review_with(drop("request", "kind", "group")), CHECKOUT, id="kind-without-group-is-core"
        ),
        pytest.param(review_with(drop("request", "operation")), CHECKOUT, id="no-operation-is-create"),
        pytest.param(review_with(put("", "request", "namespace")), CHECKOUT, id="no-request-namespace"),
        pytest.param(
            review_with(put("", "request", "namespace"), drop(*POD, "metadata", "namespace")),
            ("default", SERVICE_ACCOUNT),
            id="no-namespace-anywhere-is-default",
        ),
        pytest.param(review_with(drop(*POD, "metadata")), CHECKOUT, id="pod-without-metadata"),
        pytest.param(
            review_with(drop(*POD, "spec", "serviceAccountName")),
            (NAMESPACE, "default"),
            id="no-serviceaccount-name-is-default",
        ),
        pytest.param(
            review_with(
                drop(*POD, "spec", "serviceAccountName"), put("legacy", *POD, "spec", "serviceAccount")
            ),
            (NAMESPACE, "legacy"),
            id="deprecated-serviceaccount-field",
        ),
    ],
)
def test_reviews_the_api_server_may_send_are_read_as_it_means_them(body: bytes, where: Key) -> None:
    status, reply = answer(body, FakeServiceAccounts(cached={where: role_annotations()}))

    assert status == 200
    assert {"op": "add", "path": "/spec/containers/0/env", "value": IRSA_ENV} in decoded_patch(reply)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(review_with(put("UPDATE", "request", "operation")), id="update"),
        pytest.param(review_with(put("DELETE", "request", "operation")), id="delete"),
        pytest.param(
            review_with(put("DELETE", "request", "operation"), put(None, *POD)), id="delete-no-object"
        ),
        pytest.param(review_with(drop(*POD, "spec")), id="pod-without-spec"),
    ],
)
def test_reviews_with_nothing_to_inject_are_allowed_unchanged_and_counted_so(body: bytes) -> None:
    unchanged_before = requests_counted("unchanged")

    status, reply = answer(body)

    assert status == 200
    assert reply["response"] == {"uid": reply["response"]["uid"], "allowed": True}
    assert requests_counted("unchanged") == unchanged_before + 1


def test_a_pod_without_containers_gets_only_the_token_volume_as_from_the_reference() -> None:
    status, reply = answer(review_with(drop(*POD, "spec", "containers")))

    assert status == 200
    assert [operation["path"] for operation in decoded_patch(reply)] == ["/spec/volumes"]


def test_a_pod_already_carrying_everything_is_counted_unchanged_not_mutated() -> None:
    original = pod()
    _, first = answer(encode(admission_review(original)))
    mutated_before, unchanged_before = pods_mutated("irsa"), requests_counted("unchanged")

    _, again = answer(encode(admission_review(apply(original, decoded_patch(first)))))

    assert "patch" not in again["response"]
    assert pods_mutated("irsa") == mutated_before
    assert requests_counted("unchanged") == unchanged_before + 1
