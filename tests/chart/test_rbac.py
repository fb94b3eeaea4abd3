"""Least privilege: the webhook's ServiceAccount may do exactly what its mode needs, and nothing else."""

from __future__ import annotations

import pytest

from tests.chart.rendering import FULLNAME, NAMESPACE, Chart
from tests.chart.scenarios import ALL, CERT_MANAGER, SECRET, SELF

pytestmark = pytest.mark.helm

READ = ["get", "list", "watch"]


@pytest.mark.parametrize("scenario", ALL)
def test_serviceaccounts_are_readable_cluster_wide_and_nothing_is_a_wildcard(
    chart: Chart, scenario: str
) -> None:
    rendered = chart.render(ALL[scenario])
    assert rendered.rules_for("serviceaccounts") == [
        ("ClusterRole", {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": READ})
    ]
    for _, rule in rendered.rbac_rules():
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


@pytest.mark.parametrize("scenario", ALL)
def test_bindings_grant_the_roles_to_the_webhooks_own_service_account_only(
    chart: Chart, scenario: str
) -> None:
    rendered = chart.render(ALL[scenario])
    service_account = rendered.pod_spec["serviceAccountName"]
    for binding in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}
        ]
        assert binding["roleRef"]["kind"] == binding["kind"].removesuffix("Binding")


def test_self_mode_may_write_only_its_own_secret_and_webhook_configuration(chart: Chart) -> None:
    rendered = chart.render(SELF)
    secret_name = rendered.flag("--tls-secret")
    assert rendered.rules_for("secrets") == [
        (
            "Role",
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": [secret_name],
                "verbs": ["get", "update"],
            },
        ),
        ("Role", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}),
    ]
    assert rendered.rules_for("mutatingwebhookconfigurations") == [
        (
            "ClusterRole",
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["mutatingwebhookconfigurations"],
                "resourceNames": [FULLNAME],
                "verbs": ["get", "update"],
            },
        )
    ]
    assert (
        rendered.flag("--webhook-config-name")
        == rendered.one("MutatingWebhookConfiguration")["metadata"]["name"]
    )
    assert rendered.one("Role")["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("values", [CERT_MANAGER, SECRET], ids=["cert-manager", "secret"])
def test_other_modes_get_no_access_to_secrets_or_webhook_configurations(
    chart: Chart, values: dict[str, object]
) -> None:
    rendered = chart.render(values)
    assert rendered.rules_for("secrets") == []
    assert rendered.rules_for("mutatingwebhookconfigurations") == []
    assert rendered.of_kind("Role") == []


@pytest.mark.parametrize("mode", ["self", "secret"])
def test_mappings_add_read_access_to_the_one_configmap_in_the_release_namespace(
    chart: Chart, mode: str
) -> None:
    values = {"mappings": {"enabled": True}, **(SELF if mode == "self" else SECRET)}
    rendered = chart.render(values)
    assert rendered.rules_for("configmaps") == [
        (
            "Role",
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["pod-identity-webhook"],
                "verbs": READ,
            },
        )
    ]
    assert chart.render(SELF).rules_for("configmaps") == []


def test_rbac_can_be_left_to_the_operator(chart: Chart) -> None:
    rendered = chart.render({"rbac": {"create": False}})
    assert rendered.kinds.isdisjoint({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})


def test_self_mode_may_write_the_ca_into_its_own_validating_configuration_only_with_the_warnings_on(
    chart: Chart,
) -> None:
    assert chart.render(SELF).rules_for("validatingwebhookconfigurations") == [
        (
            "ClusterRole",
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingwebhookconfigurations"],
                "resourceNames": [FULLNAME],
                "verbs": ["get", "update"],
            },
        )
    ]
    off = {**SELF, "serviceAccountWarnings": {"enabled": False}}
    assert chart.render(off).rules_for("validatingwebhookconfigurations") == []
    assert chart.render(SECRET).rules_for("validatingwebhookconfigurations") == []


@pytest.mark.parametrize(
    ("missed_credentials", "expected"),
    [
        ({"enabled": False, "repair": {"enabled": True}}, {}),
        ({"enabled": True}, {"pods": ["list"], "events": ["create"]}),
        (
            {"enabled": True, "repair": {"enabled": True}},
            {"pods": ["list"], "events": ["create"], "pods/eviction": ["create"]},
        ),
    ],
    ids=["off", "find", "find-and-repair"],
)
def test_missed_credentials_get_pods_events_and_evictions_only_as_far_as_enabled(
    chart: Chart, missed_credentials: dict[str, object], expected: dict[str, list[str]]
) -> None:
    rendered = chart.render({"missedCredentials": missed_credentials})
    granted = {
        resource: rule["verbs"]
        for kind, rule in rendered.rbac_rules()
        for resource in rule["resources"]
        if resource in ("pods", "events", "pods/eviction")
        and kind == "ClusterRole"
        and rule["apiGroups"] == [""]
        and "resourceNames" not in rule
    }
    assert granted == expected
    assert len(rendered.rbac_rules()) == len(chart.render().rbac_rules()) + len(expected)
