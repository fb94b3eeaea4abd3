"""The metrics port's app: metrics on every path, the debugging route only when it is enabled."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from webhook.server.metrics_port import DEBUG_CACHE_PATH, metrics_app


def get(app: Any, path: str) -> tuple[str, bytes]:
    status: list[str] = []
    body: Iterable[bytes] = app(
        {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "wsgi.url_scheme": "http"},
        lambda line, _headers: status.append(line),
    )
    return status[0], b"".join(body)


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("probe_total", "a counter", registry=registry).inc()
    return registry


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/"])
def test_every_other_path_answers_metrics_as_before(registry: CollectorRegistry, path: str) -> None:
    status, body = get(metrics_app(registry=registry, cache_dump=lambda: {}), path)

    assert status.startswith("200")
    assert b"probe_total 1.0" in body


def test_the_debugging_route_is_not_found_when_disabled(registry: CollectorRegistry) -> None:
    assert get(metrics_app(registry=registry, cache_dump=None), DEBUG_CACHE_PATH)[0] == "404 Not Found"


def test_the_debugging_route_sorts_the_names_and_indents_one_space(registry: CollectorRegistry) -> None:
    dump = {"shop/b": {"RoleARN": "r"}, "shop/a": {"RoleARN": ""}}

    status, body = get(metrics_app(registry=registry, cache_dump=lambda: dump), DEBUG_CACHE_PATH)

    assert status == "200 OK"
    assert body == b'{\n "shop/a": {\n  "RoleARN": ""\n },\n "shop/b": {\n  "RoleARN": "r"\n }\n}'
