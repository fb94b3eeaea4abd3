"""SPEC §4: malformed requests get a clear JSON error with the right status, and the server keeps serving."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest

from tests.engine.support import pod
from tests.integration.conftest import MAX_REQUEST_BYTES
from tests.integration.server_process import RunningServer, scrape, value
from tests.server.reviews import admission_review, decoded_patch, from_replicaset

JSON = {"content-type": "application/json"}


def review_without(field: str) -> bytes:
    review = admission_review(pod())
    del review["request"][field]
    return json.dumps(review).encode()


def oversized_review() -> bytes:
    review = admission_review(pod())
    review["request"]["object"]["metadata"]["annotations"] = {"padding": "x" * MAX_REQUEST_BYTES}
    return json.dumps(review).encode()


def in_chunks(body: bytes) -> Iterator[bytes]:
    """A streamed body: sent with Transfer-Encoding chunked, so the server cannot trust a Content-Length."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


class BadRequest(NamedTuple):
    method: str
    headers: dict[str, str]
    body: Any
    """Bytes, None, or "chunked" for an oversized body streamed without Content-Length."""
    status: int
    complaint: str
    """Words the JSON error must contain."""


DEPLOYMENT_KIND = {"group": "apps", "version": "v1", "kind": "Deployment"}
BAD_REQUESTS = {
    "invalid-json": BadRequest("POST", JSON, b'{"apiVersion": ', 400, "JSON"),
    "json-but-not-a-review": BadRequest("POST", JSON, b'{"hello": "world"}', 400, "AdmissionReview"),
    "no-request": BadRequest(
        "POST",
        JSON,
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
        400,
        "request",
    ),
    "deployment-instead-of-pod": BadRequest(
        "POST",
        JSON,
        json.dumps(admission_review(pod(), kind=DEPLOYMENT_KIND)).encode(),
        400,
        "Deployment",
    ),
    "invalid-utf8": BadRequest(
        "POST",
        JSON,
        json.dumps(admission_review(pod(), uid="UID-1")).encode().replace(b"UID-1", b"\xff"),
        400,
        "not valid JSON",
    ),
    "json-nested-too-deep": BadRequest("POST", JSON, b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "too deep"),
    "missing-uid": BadRequest("POST", JSON, review_without("uid"), 400, "uid"),
    "missing-object": BadRequest("POST", JSON, review_without("object"), 400, "object"),
    "body-over-the-limit": BadRequest("POST", JSON, oversized_review(), 413, "exceeds"),
    "chunked-body-over-the-limit": BadRequest("POST", JSON, "chunked", 413, "exceeds"),
    "wrong-content-type": BadRequest("POST", {"content-type": "text/plain"}, b"{}", 415, "content-type"),
    "no-content-type": BadRequest("POST", {}, b"{}", 415, "content-type"),
    "get-instead-of-post": BadRequest("GET", {}, None, 405, "POST"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_request_gets_a_json_error_is_counted_and_the_server_keeps_serving(
    server: RunningServer, client: httpx.Client, case: BadRequest
) -> None:
    content = in_chunks(oversized_review()) if case.body == "chunked" else case.body
    before = scrape(server)

    response = client.request(case.method, "/mutate", headers=case.headers, content=content)

    assert response.status_code == case.status
    assert response.headers["content-type"].startswith("application/json")
    assert case.complaint in response.json()["error"]
    counted = value(scrape(server), "requests_total", result="bad_request")
    assert counted - value(before, "requests_total", result="bad_request") == 1
    original = from_replicaset(pod())
    assert decoded_patch(client.post("/mutate", json=admission_review(original)).json())


def test_a_client_that_leaves_mid_request_is_not_a_bad_request(
    server: RunningServer, client: httpx.Client
) -> None:
    """The API server gives up on its timeout and closes: half a review is not a malformed one."""
    before = scrape(server)
    body = json.dumps(admission_review(pod())).encode()
    head = f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        server.tls_context().wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(head.encode() + body[: len(body) // 2])

    original = from_replicaset(pod())
    assert decoded_patch(client.post("/mutate", json=admission_review(original)).json())
    assert value(scrape(server), "requests_total", result="bad_request") == value(
        before, "requests_total", result="bad_request"
    )
    assert "disconnected before its admission request was complete" in server.output()
