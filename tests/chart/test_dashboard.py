"""The Grafana dashboard: one file, shipped by the chart and published in docs/, whose every query reads
only metrics the server exports and returns data from a webhook at work."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.chart.promql import (
    RELEASE_LABELS,
    busy_webhook,
    exported_series,
    input_names,
    metric_names,
    promtool_test,
)
from tests.chart.rendering import FULLNAME, NAMESPACE, Chart, Json

pytestmark = pytest.mark.helm

CHART_FILE = Path("charts/pod-identity-webhook/dashboards/pod-identity-webhook.json")
DOCS_FILE = Path("docs/grafana-dashboard.json")
ENABLED = {"metrics": {"grafanaDashboard": {"enabled": True}}}


def dashboard(repo_root: Path) -> Json:
    loaded: Json = json.loads((repo_root / CHART_FILE).read_text())
    return loaded


LABEL_VALUES = re.compile(r"label_values\((?P<selector>.*), *\w+\)")


def queries(board: Json) -> list[str]:
    """The PromQL of every panel, and the selector inside every `label_values(...)` variable."""
    panels = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    variables = [
        variable["query"]["query"] for variable in board["templating"]["list"] if variable["type"] == "query"
    ]
    selectors = [LABEL_VALUES.sub(r"\g<selector>", query) for query in variables]
    assert not any("label_values" in selector for selector in selectors)
    return panels + selectors


def as_promql(query: str) -> str:
    """A query as Grafana sends it for the release, its variables filled in."""
    return (
        query.replace("$__rate_interval", "5m")
        .replace("$namespace", RELEASE_LABELS["namespace"])
        .replace("$job", RELEASE_LABELS["job"])
    )


def test_the_dashboard_in_docs_is_the_file_the_chart_ships(repo_root: Path, chart: Chart) -> None:
    (shipped,) = [
        item
        for item in chart.render(ENABLED).of_kind("ConfigMap")
        if item["metadata"]["name"] == f"{FULLNAME}-dashboard"
    ]

    assert (repo_root / DOCS_FILE).read_bytes() == (repo_root / CHART_FILE).read_bytes()
    assert json.loads(shipped["data"]["pod-identity-webhook.json"]) == dashboard(repo_root)


@pytest.mark.parametrize(
    ("values", "namespace", "labels"),
    [
        ({}, NAMESPACE, {"grafana_dashboard": "1"}),
        (
            {"namespace": "monitoring", "labels": {"grafana_dashboard": "yes"}},
            "monitoring",
            {"grafana_dashboard": "yes"},
        ),
    ],
    ids=["defaults", "the sidecar's own namespace and label"],
)
def test_the_dashboard_configmap_carries_the_label_grafanas_sidecar_looks_for(
    chart: Chart, values: dict[str, Any], namespace: str, labels: dict[str, str]
) -> None:
    rendered = chart.render({"metrics": {"grafanaDashboard": {"enabled": True, **values}}})
    (configmap,) = [
        item for item in rendered.of_kind("ConfigMap") if item["metadata"]["name"] == f"{FULLNAME}-dashboard"
    ]

    assert configmap["metadata"]["namespace"] == namespace
    assert configmap["metadata"]["labels"].items() >= labels.items()


def test_the_dashboard_is_not_rendered_unless_asked_for(chart: Chart) -> None:
    names = {item["metadata"]["name"] for item in chart.render({}).of_kind("ConfigMap")}
    assert f"{FULLNAME}-dashboard" not in names


@pytest.mark.parametrize(
    ("shows", "metric"),
    [
        ("admissions per second by result", "pod_identity_webhook_requests_total"),
        ("latency percentiles", "pod_identity_webhook_request_duration_seconds_bucket"),
        ("failed-open pods", 'result="failed_open"'),
        ("the ServiceAccount cache's size", "pod_identity_webhook_serviceaccount_cache_size"),
        ("API fallbacks", "pod_identity_webhook_serviceaccount_api_fallbacks_total"),
        ("certificate expiry", "pod_identity_webhook_certificate_expiry_timestamp_seconds"),
        ("CA expiry", "pod_identity_webhook_ca_expiry_timestamp_seconds"),
        ("ready replicas", "pod_identity_webhook_ready"),
    ],
)
def test_the_dashboard_shows(repo_root: Path, shows: str, metric: str) -> None:
    assert any(metric in query for query in queries(dashboard(repo_root))), shows


def test_every_query_reads_only_metrics_the_server_exports(repo_root: Path) -> None:
    exported = exported_series()
    for query in queries(dashboard(repo_root)):
        read = metric_names(query)
        assert read, query
        assert read <= exported, query


def test_every_query_returns_data_from_a_webhook_at_work(repo_root: Path, promtool: str) -> None:
    """promtool evaluates each query on every series a busy replica exports; a query that read a metric or
    label the server does not have would come back empty."""
    tests = [
        {
            "interval": "1m",
            "input_series": busy_webhook(minutes=40),
            "promql_expr_test": [
                {
                    "expr": f"clamp_max(count({as_promql(query)}), 1)",
                    "eval_time": "30m",
                    "exp_samples": [{"labels": "{}", "value": 1}],
                }
                for query in queries(dashboard(repo_root))
            ],
        }
    ]
    assert input_names(tests) <= exported_series()
    promtool_test(promtool, [], tests)
