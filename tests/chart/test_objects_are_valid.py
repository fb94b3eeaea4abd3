"""Every object the chart renders is one the API servers we support would accept, as written."""

from __future__ import annotations

import re

import pytest
from kubernetes_validate import utils as kubernetes_schemas

from tests.chart.rendering import Chart
from tests.chart.scenarios import ALL, CUSTOM_RESOURCE_KINDS
from tests.validation import SUPPORTED_VERSIONS

pytestmark = pytest.mark.helm


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("scenario", ALL)
def test_every_rendered_object_passes_strict_schema_validation(
    chart: Chart, scenario: str, version: str
) -> None:
    rendered = chart.render(ALL[scenario])
    errors: list[str] = []
    unknown: set[str] = set()
    for item in rendered.objects:
        try:
            kubernetes_schemas.validate(item, version, strict=True)
        except kubernetes_schemas.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            errors.append(f"{item['kind']}/{item['metadata']['name']}: {where}: {error.message}")
        except kubernetes_schemas.SchemaNotFoundError:
            unknown.add(item["kind"])
    assert errors == []
    assert unknown <= CUSTOM_RESOURCE_KINDS


@pytest.mark.parametrize("scenario", ALL)
def test_every_namespaced_object_lands_in_the_release_namespace(chart: Chart, scenario: str) -> None:
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
    rendered = chart.render(ALL[scenario], namespace="team-identity")
    namespaces = {
        item["metadata"].get("namespace") for item in rendered.objects if item["kind"] not in cluster_scoped
    }
    assert namespaces == {"team-identity"}


DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
"""What a Service name must be (RFC 1035, at most 63 characters); kubernetes-validate does not check it."""


@pytest.mark.parametrize("scenario", ALL)
def test_services_are_named_within_the_api_servers_limits_even_for_the_longest_name(
    chart: Chart, scenario: str
) -> None:
    values = ALL[scenario] | {
        "fullnameOverride": "platform-security-irsa-credential-injector-pod-identity-webhook"
    }
    services = chart.render(values).of_kind("Service")
    assert services
    for service in services:
        assert DNS_LABEL.fullmatch(service["metadata"]["name"]), service["metadata"]["name"]


@pytest.mark.parametrize(
    ("scenario", "kinds"),
    [
        ("self", set()),
        ("secret", set()),
        ("cert-manager", {"Issuer", "Certificate"}),
        ("everything", {"Certificate", "ServiceMonitor", "PrometheusRule"}),
    ],
)
def test_custom_resources_appear_only_when_asked_for(chart: Chart, scenario: str, kinds: set[str]) -> None:
    assert chart.render(ALL[scenario]).kinds & CUSTOM_RESOURCE_KINDS == kinds


@pytest.mark.parametrize("scenario", ALL)
def test_helm_lint_strict_passes(chart: Chart, scenario: str) -> None:
    linted = chart.lint(ALL[scenario])
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "[WARNING]" not in linted.stdout and "[ERROR]" not in linted.stdout
