"""The in-test API server serves the issuer discovery documents only as kube-apiserver serves them.

kube-apiserver answers 406 to `/openid/v1/jwks` unless the Accept header admits `application/jwk-set+json`;
a stand-in that answered anything let `oidc discovery --from-cluster` ship asking for `application/json`,
which every real cluster refuses. `ACCEPT_ANSWERS` is what kube-apiserver v1.20.2 answered;
`tests/apiserver/test_tokens.py` asks the real server the same questions, so the table cannot drift.
"""

from __future__ import annotations

import httpx
import pytest

from tests.fake_apiserver import ISSUER_DISCOVERY_PATH, ISSUER_JWKS_PATH, FakeApiServer

JWKS_TYPE = "application/jwk-set+json"
ACCEPT_ANSWERS: list[tuple[str, str, int]] = [
    (ISSUER_JWKS_PATH, "", 200),
    (ISSUER_JWKS_PATH, "*/*", 200),
    (ISSUER_JWKS_PATH, JWKS_TYPE, 200),
    (ISSUER_JWKS_PATH, f"{JWKS_TYPE}, application/json", 200),
    (ISSUER_JWKS_PATH, f"{JWKS_TYPE};q=0.9", 200),
    (ISSUER_JWKS_PATH, "application/json, */*", 200),
    (ISSUER_JWKS_PATH, "application/json", 406),
    (ISSUER_JWKS_PATH, "application/*", 406),
    (ISSUER_JWKS_PATH, "APPLICATION/JWK-SET+JSON", 406),
    (ISSUER_DISCOVERY_PATH, "APPLICATION/JSON", 406),
    (ISSUER_DISCOVERY_PATH, "", 200),
    (ISSUER_DISCOVERY_PATH, "application/json", 200),
    (ISSUER_DISCOVERY_PATH, f"{JWKS_TYPE}, application/json", 200),
    (ISSUER_DISCOVERY_PATH, JWKS_TYPE, 406),
    (ISSUER_DISCOVERY_PATH, "text/plain", 406),
]
"""(path, Accept header, status) as kube-apiserver v1.20.2 answers them."""
ACCEPT_IDS = [f"{path} {accept or '(empty)'}" for path, accept, _ in ACCEPT_ANSWERS]

CONFIGURATION = {"issuer": "https://kubernetes.default.svc", "jwks_uri": "https://127.0.0.1/openid/v1/jwks"}
JWKS = {"keys": [{"kty": "RSA", "kid": "k", "alg": "RS256", "use": "sig", "n": "AQAB", "e": "AQAB"}]}


@pytest.mark.parametrize(("path", "accept", "status"), ACCEPT_ANSWERS, ids=ACCEPT_IDS)
def test_each_accept_header_is_answered_as_kube_apiserver_answers_it(
    path: str, accept: str, status: int, fake_apiserver: FakeApiServer
) -> None:
    fake_apiserver.serve_issuer_discovery(CONFIGURATION, JWKS)

    response = httpx.get(f"{fake_apiserver.url}{path}", headers={"Accept": accept})

    assert response.status_code == status
    if status == 406:
        assert response.json()["reason"] == "NotAcceptable"


def test_the_jwks_is_labelled_as_a_jwk_set_and_the_discovery_document_as_json(
    fake_apiserver: FakeApiServer,
) -> None:
    fake_apiserver.serve_issuer_discovery(CONFIGURATION, JWKS)

    jwks = httpx.get(f"{fake_apiserver.url}{ISSUER_JWKS_PATH}", headers={"Accept": JWKS_TYPE})
    configuration = httpx.get(f"{fake_apiserver.url}{ISSUER_DISCOVERY_PATH}")

    assert (jwks.headers["Content-Type"], jwks.json()) == (JWKS_TYPE, JWKS)
    assert (configuration.headers["Content-Type"], configuration.json()) == (
        "application/json",
        CONFIGURATION,
    )


@pytest.mark.parametrize("path", [ISSUER_DISCOVERY_PATH, ISSUER_JWKS_PATH])
def test_until_told_to_serve_them_the_documents_are_not_found_as_on_a_cluster_without_discovery(
    path: str, fake_apiserver: FakeApiServer
) -> None:
    response = httpx.get(f"{fake_apiserver.url}{path}")

    assert (response.status_code, response.json()["reason"]) == (404, "NotFound")
