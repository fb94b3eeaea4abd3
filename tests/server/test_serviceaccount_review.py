"""`POST /validate-serviceaccount`: a ServiceAccount write is always allowed, and told what is wrong with it in
the answer's warnings; the HTTP layer routes it only when the warnings are on."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.server.reviews import encode
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.engine.settings import MutationSettings
from webhook.server.admission import AdmissionHandler
from webhook.server.http_app import WebhookApp, health_app
from webhook.server.serviceaccount_review import VALIDATE_SERVICEACCOUNT_PATH, ServiceAccountReviewer

Json = dict[str, Any]
SERVICEACCOUNT_GVK = {"group": "", "version": "v1", "kind": "ServiceAccount"}
ROLE = "arn:aws:iam::111122223333:role/checkout"
MISSPELT = {"eks.amazon.com/role-arn": ROLE}


class Configuration:
    mappings = RoleMappings()
    pod_identities = PodIdentityAssociations()


class NoServiceAccounts:
    def cached(self, namespace: str, name: str) -> None:
        return None

    async def fetch(self, namespace: str, name: str) -> None:
        return None


def serviceaccount_review(
    annotations: dict[str, str] | None,
    *,
    operation: str = "CREATE",
    kind: Json = SERVICEACCOUNT_GVK,
    api_version: str = "admission.k8s.io/v1",
) -> Json:
    """A review as the API server sends it: on DELETE the object is null."""
    obj = (
        None
        if annotations is None
        else {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "checkout", "namespace": "shop", "annotations": annotations},
        }
    )
    return {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": kind,
            "resource": {"group": "", "version": "v1", "resource": "serviceaccounts"},
            "namespace": "shop",
            "name": "checkout",
            "operation": operation,
            "object": obj,
            "oldObject": None,
        },
    }


def reviewed(review: Json) -> tuple[int, Json]:
    reviewer = ServiceAccountReviewer(settings=MutationSettings(), configuration=Configuration())
    answer = reviewer.answer(encode(review))
    return answer.status, json.loads(answer.body)


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_a_misspelt_annotation_is_allowed_with_a_warning(operation: str, api_version: str) -> None:
    review = serviceaccount_review(MISSPELT, operation=operation, api_version=api_version)

    status, answer = reviewed(review)

    assert status == 200
    assert answer["apiVersion"] == api_version
    assert answer["response"] == {
        "uid": review["request"]["uid"],
        "allowed": True,
        "warnings": [
            "serviceaccount shop/checkout: the ServiceAccount's annotation eks.amazon.com/role-arn is not "
            "read: did you mean eks.amazonaws.com/role-arn?"
        ],
    }


@pytest.mark.parametrize(
    "review",
    [
        pytest.param(serviceaccount_review({"eks.amazonaws.com/role-arn": ROLE}), id="written-right"),
        pytest.param(serviceaccount_review(None, operation="DELETE"), id="delete"),
    ],
)
def test_a_review_with_nothing_to_say_is_allowed_without_warnings(review: Json) -> None:
    status, answer = reviewed(review)

    assert status == 200
    assert answer["response"] == {"uid": review["request"]["uid"], "allowed": True}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        pytest.param(
            encode(serviceaccount_review({}, kind={"group": "", "version": "v1", "kind": "Pod"})),
            "ServiceAccounts only",
            id="pod",
        ),
        pytest.param(b"{", "not valid JSON", id="not-json"),
        pytest.param(encode({"apiVersion": "v1", "kind": "Pod"}), "AdmissionReview", id="not-a-review"),
    ],
)
def test_a_malformed_review_gets_400_with_a_json_error(body: bytes, complaint: str) -> None:
    reviewer = ServiceAccountReviewer(settings=MutationSettings(), configuration=Configuration())

    answer = reviewer.answer(body)

    assert answer.status == 400
    assert complaint in json.loads(answer.body)["error"]


def _post(app: WebhookApp, method: str, path: str, body: Json) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(send())


def _app(*, warnings: bool) -> WebhookApp:
    handler = AdmissionHandler(
        settings=MutationSettings(), service_accounts=NoServiceAccounts(), configuration=Configuration()
    )
    reviewer = ServiceAccountReviewer(settings=MutationSettings(), configuration=Configuration())
    return WebhookApp(
        handler=handler,
        fallback=health_app(ready=lambda: (True, "ready")),
        max_request_bytes=1 << 20,
        more_reviews={VALIDATE_SERVICEACCOUNT_PATH: reviewer} if warnings else None,
    )


@pytest.mark.parametrize(
    ("warnings", "method", "status"),
    [(True, "POST", 200), (True, "GET", 405), (False, "POST", 404)],
    ids=["on", "on-wrong-method", "off"],
)
def test_the_endpoint_is_served_only_when_the_warnings_are_on(
    warnings: bool, method: str, status: int
) -> None:
    response = _post(
        _app(warnings=warnings), method, VALIDATE_SERVICEACCOUNT_PATH, serviceaccount_review(MISSPELT)
    )

    assert response.status_code == status
    if status == 200:
        assert "did you mean eks.amazonaws.com/role-arn?" in response.json()["response"]["warnings"][0]
