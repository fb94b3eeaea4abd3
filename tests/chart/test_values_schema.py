"""values.schema.json turns a bad install into a message naming the value and what it must be."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import Chart

pytestmark = pytest.mark.helm


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"webhook": {"timeoutSeconds": 31}}, "webhook.timeoutSeconds: Must be less than or equal to 30"),
        ({"webhook": {"timeoutSeconds": 0}}, "webhook.timeoutSeconds: Must be greater than or equal to 1"),
        (
            {"certificates": {"mode": "letsencrypt"}},
            'certificates.mode must be one of the following: "self", "cert-manager", "secret"',
        ),
        (
            {"webhook": {"failurePolicy": "Never"}},
            'webhook.failurePolicy must be one of the following: "Ignore", "Fail"',
        ),
        (
            {"certificates": {"mode": "secret"}},
            "certificates.secret.name: String length must be greater than or equal to 1",
        ),
        ({"config": {"tokenExpiration": 60}}, "config.tokenExpiration: Must be greater than or equal to 600"),
        ({"config": {"logFormat": "xml"}}, 'config.logFormat must be one of the following: "json", "text"'),
        (
            {"config": {"tlsMinVersion": "1.1"}},
            'config.tlsMinVersion must be one of the following: "1.2", "1.3"',
        ),
        ({"config": {"awsDefaultRegion": "Oregon"}}, "config.awsDefaultRegion: Does not match pattern"),
        ({"mappings": {"roles": {"team/app": {"RoleARN": "deployer"}}}}, "RoleARN: Does not match pattern"),
        ({"podIdentity": {"identities": [{"namespace": "shop"}]}}, "serviceAccount is required"),
        ({"replicaCount": "two"}, "replicaCount: Invalid type. Expected: integer, given: string"),
        (
            {"podAntiAffinity": "strict"},
            'podAntiAffinity must be one of the following: "soft", "hard", "none"',
        ),
        ({"image": {"digest": "latest"}}, "image.digest: Does not match pattern"),
        ({"extraArgs": ["verbose"]}, "extraArgs.0: Does not match pattern"),
        ({"webhookTimeout": 10}, "Additional property webhookTimeout is not allowed"),
        (
            {"metrics": {"prometheusRule": {"failedOpen": {"for": "five minutes"}}}},
            "metrics.prometheusRule.failedOpen.for: Does not match pattern",
        ),
        (
            {"metrics": {"prometheusRule": {"slowAdmissions": {"p99Seconds": 0}}}},
            "metrics.prometheusRule.slowAdmissions.p99Seconds: Must be greater than 0",
        ),
    ],
)
def test_bad_values_are_rejected_with_a_message_naming_them(
    chart: Chart, values: dict[str, Any], message: str
) -> None:
    assert message in chart.rejection(values)


@pytest.mark.parametrize(
    "issuer",
    [
        {"name": "corp-ca", "kind": "ClusterIssuer"},
        {"name": "corp-ca", "kind": "Issuer", "group": "cert-manager.io"},
        {"name": "pca", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"},
    ],
    ids=["cert-manager", "cert-manager-group", "external-issuer"],
)
def test_cert_manager_issuers_of_every_kind_are_accepted(chart: Chart, issuer: dict[str, str]) -> None:
    values = {"certificates": {"mode": "cert-manager", "certManager": {"issuerRef": issuer}}}
    (certificate,) = [item for item in chart.render(values).objects if item["kind"] == "Certificate"]
    assert certificate["spec"]["issuerRef"] == issuer


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ({"kind": "ClusterIssuer"}, "name is required"),
        ({"name": "corp-ca", "kind": "AWSPCAClusterIssuer"}, '"Issuer", "ClusterIssuer"'),
    ],
    ids=["no-name", "external-kind-without-its-group"],
)
def test_an_issuer_cert_manager_would_refuse_is_rejected_at_install(
    chart: Chart, issuer: dict[str, str], message: str
) -> None:
    values = {"certificates": {"mode": "cert-manager", "certManager": {"issuerRef": issuer}}}
    assert message in chart.rejection(values)


def test_secret_mode_needs_both_the_secret_and_the_ca_bundle(chart: Chart) -> None:
    error = chart.rejection({"certificates": {"mode": "secret", "secret": {"name": "corp-webhook-tls"}}})
    assert "certificates.secret.caBundle" in error
    assert "certificates.secret.name" not in error
