"""The opt-in PrometheusRule: every alert fires on the situation it names and stays quiet otherwise, as
promtool evaluates it on series the server really exports, with the thresholds the values set; each alert
says what happened and links its section of docs/runbook.md."""

from __future__ import annotations

import copy
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.promql import (
    RELEASE_LABELS,
    exported_series,
    histogram,
    input_names,
    metric_names,
    promtool_test,
    series,
)
from tests.chart.rendering import FULLNAME, NAMESPACE, Chart, Json

pytestmark = pytest.mark.helm

P = "pod_identity_webhook_"
REPLICA = RELEASE_LABELS | {"pod": f"{FULLNAME}-0"}
ALERTS = (
    "PodIdentityWebhookFailedOpen",
    "PodIdentityWebhookCertificateExpiresSoon",
    "PodIdentityWebhookCAExpiresSoon",
    "PodIdentityWebhookServiceAccountCacheNotSynced",
    "PodIdentityWebhookWatchFailing",
    "PodIdentityWebhookSlowAdmissions",
    "PodIdentityWebhookNoReplicaReady",
)
DAY = 86400


def rule_groups(chart: Chart, **settings: Any) -> list[Json]:
    values = {"metrics": {"prometheusRule": {"enabled": True, **settings}}}
    groups: list[Json] = chart.render(values).one("PrometheusRule")["spec"]["groups"]
    return groups


def rules(chart: Chart, **settings: Any) -> dict[str, Json]:
    return {rule["alert"]: rule for group in rule_groups(chart, **settings) for rule in group["rules"]}


@dataclass(frozen=True)
class Case:
    alert: str
    story: str
    series: list[dict[str, str]]
    at: str
    fires: list[dict[str, str]]
    """The labels (besides severity) of each alert expected to fire at `at`; empty: it stays quiet."""
    settings: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("PodIdentityWebhookFailedOpen", "pods keep failing open",
         [series(P + "requests_total", "0+2x30", result="failed_open")], "20m", [{"namespace": NAMESPACE}]),
    Case("PodIdentityWebhookFailedOpen", "one pod failed open long ago",
         [series(P + "requests_total", "0 0 1x28", result="failed_open")], "20m", []),
    Case("PodIdentityWebhookFailedOpen", "every pod is mutated",
         [series(P + "requests_total", "0+50x30", result="mutated"),
          series(P + "requests_total", "0x30", result="failed_open")], "20m", []),
    Case("PodIdentityWebhookFailedOpen", "another release fails open",
         [series(P + "requests_total", "0+2x30", result="failed_open", namespace="other")], "20m", []),
    Case("PodIdentityWebhookFailedOpen", "failing open for less than failedOpen.for",
         [series(P + "requests_total", "0+2x30", result="failed_open")], "20m", [],
         {"failedOpen": {"for": "30m"}}),
    Case("PodIdentityWebhookCertificateExpiresSoon", "3 days left",
         [series(P + "certificate_expiry_timestamp_seconds", f"{3 * DAY}x40")], "30m", [REPLICA]),
    Case("PodIdentityWebhookCertificateExpiresSoon", "30 days left",
         [series(P + "certificate_expiry_timestamp_seconds", f"{30 * DAY}x40")], "30m", []),
    Case("PodIdentityWebhookCertificateExpiresSoon", "no certificate loaded yet",
         [series(P + "certificate_expiry_timestamp_seconds", "0x40")], "30m", []),
    Case("PodIdentityWebhookCertificateExpiresSoon", "3 days left, more than certificateExpiry.days",
         [series(P + "certificate_expiry_timestamp_seconds", f"{3 * DAY}x40")], "30m", [],
         {"certificateExpiry": {"days": 2}}),
    Case("PodIdentityWebhookCAExpiresSoon", "10 days left",
         [series(P + "ca_expiry_timestamp_seconds", f"{10 * DAY}x40")], "30m", [REPLICA]),
    Case("PodIdentityWebhookCAExpiresSoon", "60 days left",
         [series(P + "ca_expiry_timestamp_seconds", f"{60 * DAY}x40")], "30m", []),
    Case("PodIdentityWebhookCAExpiresSoon", "the CA is not the webhook's (file modes)",
         [series(P + "ca_expiry_timestamp_seconds", "0x40")], "30m", []),
    Case("PodIdentityWebhookServiceAccountCacheNotSynced", "the list never completes",
         [series(P + "serviceaccount_cache_synced", "0x30")], "20m", [REPLICA]),
    Case("PodIdentityWebhookServiceAccountCacheNotSynced", "the list completes after 3 minutes",
         [series(P + "serviceaccount_cache_synced", "0 0 0 1x27")], "20m", []),
    Case("PodIdentityWebhookWatchFailing", "the watch fails every minute",
         [series(P + "watch_failures_total", "0+1x40", watch="serviceaccounts")], "30m",
         [REPLICA | {"watch": "serviceaccounts"}]),
    Case("PodIdentityWebhookWatchFailing", "two failures, then a healthy watch",
         [series(P + "watch_failures_total", "0 1 2x38", watch="serviceaccounts")], "30m", []),
    Case("PodIdentityWebhookWatchFailing", "fewer failures than watchFailing.failuresIn10m",
         [series(P + "watch_failures_total", "0+1x40", watch="serviceaccounts")], "30m", [],
         {"watchFailing": {"failuresIn10m": 20}}),
    Case("PodIdentityWebhookSlowAdmissions", "every answer takes a second",
         histogram(P + "request_duration_seconds", slowest=1.0, per_minute=60, minutes=40, result="mutated"),
         "30m", [{"namespace": NAMESPACE}]),
    Case("PodIdentityWebhookSlowAdmissions", "every answer takes a millisecond",
         histogram(P + "request_duration_seconds", slowest=0.001, per_minute=60, minutes=40, result="mutated"),
         "30m", []),
    Case("PodIdentityWebhookSlowAdmissions", "a second is below slowAdmissions.p99Seconds",
         histogram(P + "request_duration_seconds", slowest=1.0, per_minute=60, minutes=40, result="mutated"),
         "30m", [], {"slowAdmissions": {"p99Seconds": 2}}),
    Case("PodIdentityWebhookNoReplicaReady", "the only replica is not ready",
         [series(P + "ready", "0x20")], "10m", [{}]),
    Case("PodIdentityWebhookNoReplicaReady", "no replica is scraped",
         [series(P + "ready", "1x20", namespace="other")], "10m", [{}]),
    Case("PodIdentityWebhookNoReplicaReady", "one of two replicas is ready",
         [series(P + "ready", "0x20"), series(P + "ready", "1x20", pod=f"{FULLNAME}-1")], "10m", []),
    Case("PodIdentityWebhookNoReplicaReady", "a ready replica under a custom selector",
         [series(P + "ready", "1x20", job="webhooks")], "10m", [], {"selector": 'job="webhooks"'}),
]  # fmt: skip


def without_annotations(groups: list[Json]) -> list[Json]:
    """The rules as promtool should compare them: its expected alerts would otherwise have to repeat every
    templated description word for word. The annotations have tests of their own."""
    stripped = copy.deepcopy(groups)
    for group in stripped:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return stripped


@pytest.mark.parametrize("case", CASES, ids=[f"{case.alert}: {case.story}" for case in CASES])
def test_each_alert_fires_on_what_it_names_and_stays_quiet_otherwise(
    chart: Chart, promtool: str, case: Case
) -> None:
    groups = rule_groups(chart, **case.settings)
    severity = {rule["alert"]: rule["labels"]["severity"] for group in groups for rule in group["rules"]}
    test = {
        "interval": "1m",
        "input_series": case.series,
        "alert_rule_test": [
            {
                "eval_time": case.at,
                "alertname": case.alert,
                "exp_alerts": [
                    {"exp_labels": labels | {"severity": severity[case.alert]}} for labels in case.fires
                ],
            }
        ],
    }
    assert input_names([test]) <= exported_series()
    promtool_test(promtool, without_annotations(groups), [test])


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet(chart: Chart) -> None:
    assert tuple(rules(chart)) == ALERTS
    assert {(case.alert, bool(case.fires)) for case in CASES} == {
        (alert, fires) for alert in ALERTS for fires in (True, False)
    }


def test_the_rendered_rules_pass_promtool_check(chart: Chart, promtool: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump({"groups": rule_groups(chart)}, file)
        file.flush()
        checked = subprocess.run(
            [promtool, "check", "rules", file.name], capture_output=True, text=True, check=False, timeout=60
        )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


@pytest.mark.parametrize("alert", ALERTS)
def test_each_alert_reads_only_metrics_the_server_exports(chart: Chart, alert: str) -> None:
    read = metric_names(rules(chart)[alert]["expr"])
    assert read
    assert read <= exported_series()


RUNBOOK_HEADINGS = re.compile(r"^## (\w+)$", re.MULTILINE)


@pytest.mark.parametrize("alert", ALERTS)
def test_each_alert_has_a_summary_and_links_its_own_runbook_section(
    chart: Chart, repo_root: Path, alert: str
) -> None:
    annotations = rules(chart, runbookBaseUrl="https://wiki.example.com/runbook")[alert]["annotations"]
    runbook = (repo_root / "docs" / "runbook.md").read_text()

    assert annotations["summary"]
    assert annotations["description"]
    assert annotations["runbook_url"] == f"https://wiki.example.com/runbook#{alert.lower()}"
    assert alert in RUNBOOK_HEADINGS.findall(runbook)


def test_alerts_without_the_metrics_they_read_are_refused(chart: Chart) -> None:
    values = {"metrics": {"enabled": False, "prometheusRule": {"enabled": True}}}
    assert "metrics.prometheusRule.enabled needs metrics.enabled" in chart.rejection(values)
