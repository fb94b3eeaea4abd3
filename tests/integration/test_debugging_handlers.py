"""`--enable-debugging-handlers`: the reference's `GET /debug/alpha/cache` on the metrics port, showing the
ServiceAccounts the webhook holds in the reference's shape; off by default (404)."""

from __future__ import annotations

import httpx

from tests.integration.conftest import ROLE_ARN, SERVICE_ACCOUNT_COUNT
from tests.integration.server_process import Launch, RunningServer

DEBUG_CACHE = "/debug/alpha/cache"


def debug_cache(server: RunningServer) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.metrics_port}{DEBUG_CACHE}", timeout=30)


def test_the_cache_is_shown_as_the_reference_shows_it(launch: Launch) -> None:
    server = launch("--enable-debugging-handlers", "--token-expiration=7200")

    response = debug_cache(server)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    cache = response.json()
    assert len(cache) == SERVICE_ACCOUNT_COUNT
    assert list(cache) == sorted(cache)
    assert cache["shop/checkout"] == {
        "RoleARN": ROLE_ARN,
        "Audience": "sts.amazonaws.com",
        "UseRegionalSTS": False,
        "TokenExpiration": 7200,
    }
    assert cache["shop/regional"]["UseRegionalSTS"] is True
    assert cache["shop/regional"]["TokenExpiration"] == 3600
    assert cache["shop/default"]["RoleARN"] == ""
    assert response.text.startswith('{\n "shop/checkout": {\n  "RoleARN"')


def test_without_the_flag_the_route_is_not_found_and_metrics_are_still_served(server: RunningServer) -> None:
    assert debug_cache(server).status_code == 404
    assert "pod_identity_webhook_requests_total" in httpx.get(server.metrics_url, timeout=30).text
