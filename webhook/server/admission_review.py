"""The AdmissionReview wire format: decode the fields the webhook needs, encode the response.

Decoding goes straight from bytes into typed structs that ignore every field they do not name, which is
several times cheaper than building the whole review as Python objects (see docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

import msgspec

from webhook.engine.pod_view import Pod
from webhook.errors import BadRequestError

SUPPORTED_API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")


class GroupVersionKind(msgspec.Struct, frozen=True, gc=False):
    group: str = ""
    version: str = ""
    kind: str = ""


class AdmissionRequest(msgspec.Struct, frozen=True, gc=False):
    uid: str = ""
    kind: GroupVersionKind | None = None
    namespace: str | None = None
    operation: str = ""
    dryRun: bool | None = None  # noqa: N815 - Kubernetes field name
    object: Pod | None = None


class AdmissionReview(msgspec.Struct, frozen=True, gc=False):
    apiVersion: str = ""  # noqa: N815
    kind: str = ""
    request: AdmissionRequest | None = None


class ServiceAccountMeta(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    namespace: str | None = None
    annotations: dict[str, str] | None = None


class ServiceAccountObject(msgspec.Struct, frozen=True, gc=False):
    metadata: ServiceAccountMeta | None = None


class ServiceAccountRequest(msgspec.Struct, frozen=True, gc=False):
    uid: str = ""
    kind: GroupVersionKind | None = None
    namespace: str | None = None
    name: str = ""
    operation: str = ""
    object: ServiceAccountObject | None = None


class ServiceAccountReview(msgspec.Struct, frozen=True, gc=False):
    apiVersion: str = ""  # noqa: N815
    kind: str = ""
    request: ServiceAccountRequest | None = None


_decoder = msgspec.json.Decoder(AdmissionReview)
_serviceaccount_decoder = msgspec.json.Decoder(ServiceAccountReview)
_encoder = msgspec.json.Encoder()

_Review = TypeVar("_Review", AdmissionReview, ServiceAccountReview)


def decode_review(body: bytes) -> tuple[str, AdmissionRequest]:
    """(apiVersion, request) of a review for a pod; BadRequestError says what is wrong otherwise."""
    review = _decode(_decoder, body)
    request = _checked(review, kind="Pod")
    if request.object is None and request.operation in ("", "CREATE"):
        raise BadRequestError("AdmissionReview request has no object")
    return review.apiVersion, request


def decode_serviceaccount_review(body: bytes) -> tuple[str, ServiceAccountRequest]:
    """(apiVersion, request) of a review for a ServiceAccount; BadRequestError says what is wrong otherwise."""
    review = _decode(_serviceaccount_decoder, body)
    return review.apiVersion, _checked(review, kind="ServiceAccount")


def _decode(decoder: msgspec.json.Decoder[_Review], body: bytes) -> _Review:
    try:
        review = decoder.decode(body)
    except msgspec.ValidationError as error:
        raise BadRequestError(f"not an AdmissionReview: {error}") from error
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise BadRequestError(f"request body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise BadRequestError("request body is not an AdmissionReview: JSON nested too deep") from error
    if review.kind != "AdmissionReview" or review.apiVersion not in SUPPORTED_API_VERSIONS:
        raise BadRequestError(
            f"expected kind AdmissionReview with apiVersion {' or '.join(SUPPORTED_API_VERSIONS)}, "
            f"got kind {_shown(review.kind)} apiVersion {_shown(review.apiVersion)}"
        )
    return review


@overload
def _checked(review: AdmissionReview, *, kind: str) -> AdmissionRequest: ...
@overload
def _checked(review: ServiceAccountReview, *, kind: str) -> ServiceAccountRequest: ...
def _checked(
    review: AdmissionReview | ServiceAccountReview, *, kind: str
) -> AdmissionRequest | ServiceAccountRequest:
    """The review's request, when it has a uid and is for `kind` of the core group."""
    request = review.request
    if request is None:
        raise BadRequestError("AdmissionReview has no request")
    if not request.uid:
        raise BadRequestError("AdmissionReview request has no uid")
    if request.kind is None or request.kind.kind != kind or request.kind.group:
        found = request.kind.kind if request.kind else None
        what = "this webhook admits pods" if kind == "Pod" else "this endpoint reviews ServiceAccounts"
        raise BadRequestError(f"{what} only, got kind {_shown(found)}")
    return request


def _shown(value: str | None, *, at_most: int = 100) -> str:
    """A value from the request, quoted and cut short: an error answer and its log line must not grow with
    whatever a client chose to send."""
    text = repr(value)
    return text if len(text) <= at_most else f"{text[:at_most]}... ({len(text)} characters)"


def encode_response(
    *, api_version: str, uid: str, patch: bytes | None, warnings: list[str] | tuple[str, ...]
) -> bytes:
    """An allowing response, with the patch (a JSON document) when there is one: this webhook never
    denies a pod."""
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = patch  # msgspec writes bytes as base64, as the API expects
    if warnings:
        response["warnings"] = list(warnings)
    return _encoder.encode({"apiVersion": api_version, "kind": "AdmissionReview", "response": response})


def encode_error(message: str) -> bytes:
    return _encoder.encode({"error": message})
