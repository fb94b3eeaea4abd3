"""The chart's PromQL (alerts and dashboard) held against the metrics the server really exports.

Two checks, because either alone can be fooled: every metric name an expression reads must be one the
server's registry (webhook/metrics.py) exports, and promtool must evaluate the expression on series named
and labelled as the server names and labels them, with the outcome the test expects.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.chart.rendering import FULLNAME, NAMESPACE
from webhook import metrics

RELEASE_LABELS = {"namespace": NAMESPACE, "job": f"{FULLNAME}-metrics"}
"""How Prometheus labels the release's targets when the chart's ServiceMonitor scrapes them."""

_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def exported_series() -> set[str]:
    """The sample names Prometheus stores from a scrape of the server, by the type of each family."""
    return {
        family.name + suffix
        for family in metrics.REGISTRY.collect()
        for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",))
    }


_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}
_NOT_METRICS |= {"offset", "inf", "nan"}
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')
_BRACKETED = re.compile(r"\{[^}]*\}|\[[^]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()")


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords, label
    names or values, grouping labels, durations or variables."""
    bare = _GROUPING.sub(" ", _BRACKETED.sub(" ", _QUOTED.sub('""', expression)))
    return {name for name in _IDENTIFIER.findall(bare) if name.lower() not in _NOT_METRICS}


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    """One input series of a promtool test, carrying the release's labels."""
    every = RELEASE_LABELS | {"pod": f"{FULLNAME}-0"} | labels
    rendered = ", ".join(f'{key}="{value}"' for key, value in every.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


def histogram(
    name: str, *, slowest: float, per_minute: int, minutes: int, **labels: str
) -> list[dict[str, str]]:
    """The buckets of the latency histogram when every answer takes `slowest` seconds."""
    bounds = [*map(str, metrics.LATENCY_BUCKETS), "+Inf"]
    grows = f"0+{per_minute}x{minutes}"
    return [
        series(f"{name}_bucket", grows if float(le) >= slowest else f"0x{minutes}", le=le, **labels)
        for le in bounds
    ] + [series(f"{name}_count", grows, **labels)]


def busy_webhook(minutes: int) -> list[dict[str, str]]:
    """Every series of a replica that has admitted pods, failed some open and watched the cluster, with
    the label values the server uses."""
    prefix = "pod_identity_webhook_"
    growing = f"0+5x{minutes}"
    year_2100 = "4102444800"
    return [
        *(series(prefix + "requests_total", growing, result=result) for result in metrics.RESULTS),
        *histogram(prefix + "request_duration_seconds", slowest=0.001, per_minute=5, minutes=minutes),
        *(series(prefix + "pods_mutated_total", growing, mode=mode) for mode in metrics.MODES),
        series(prefix + "serviceaccount_cache_size", f"40x{minutes}"),
        series(prefix + "serviceaccount_cache_misses_total", growing),
        *(
            series(prefix + "serviceaccount_api_fallbacks_total", growing, result=result)
            for result in ("found", "not_found", "error")
        ),
        series(prefix + "certificate_expiry_timestamp_seconds", f"{year_2100}x{minutes}"),
        series(prefix + "ca_expiry_timestamp_seconds", f"{year_2100}x{minutes}"),
        series(prefix + "serviceaccount_cache_synced", f"1x{minutes}"),
        *(
            series(prefix + "watch_failures_total", growing, watch=watch)
            for watch in ("serviceaccounts", "role-mappings")
        ),
        series(prefix + "ready", f"1x{minutes}"),
        series(prefix + "config_reloads_total", growing, source="tls", result="success"),
    ]


def input_names(tests: Iterable[Mapping[str, Any]]) -> set[str]:
    """The metric names of every input series of promtool tests."""
    return {item["series"].split("{", 1)[0] for test in tests for item in test.get("input_series", ())}


def promtool_test(promtool: str, groups: Sequence[Mapping[str, Any]], tests: list[dict[str, Any]]) -> str:
    """Run `promtool test rules` on `groups` with these tests; returns its output, raises if it fails."""
    with tempfile.TemporaryDirectory() as directory:
        rules = Path(directory, "rules.yaml")
        rules.write_text(yaml.safe_dump({"groups": list(groups)}))
        test_file = Path(directory, "test.yaml")
        test_file.write_text(
            yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests})
        )
        completed = subprocess.run(
            [promtool, "test", "rules", test_file.name],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if completed.returncode != 0:
        raise AssertionError(f"promtool test rules failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout
