"""The MutatingWebhookConfiguration: which requests reach the webhook, how the API server treats its
answers, and who owns the caBundle in each certificate mode."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import FULLNAME, NAMESPACE, Chart
from tests.chart.scenarios import ALL, CA_BUNDLE, CERT_MANAGER, EVERYTHING, SECRET, SELF

pytestmark = pytest.mark.helm


@pytest.mark.parametrize("scenario", ALL)
def test_webhook_sees_only_pod_creation_and_is_safe_to_reinvoke(chart: Chart, scenario: str) -> None:
    webhook = chart.render(ALL[scenario]).webhook
    assert webhook["admissionReviewVersions"] == ["v1", "v1beta1"]
    assert webhook["sideEffects"] == "None"
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    assert webhook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]


@pytest.mark.parametrize(
    ("values", "failure_policy", "timeout"),
    [
        (SELF, "Ignore", 5),
        ({"webhook": {"failurePolicy": "Fail", "timeoutSeconds": 30}}, "Fail", 30),
        ({"webhook": {"timeoutSeconds": 1}}, "Ignore", 1),
    ],
)
def test_failure_policy_and_timeout_come_from_values(
    chart: Chart, values: dict[str, object], failure_policy: str, timeout: int
) -> None:
    webhook = chart.render(values).webhook
    assert (webhook["failurePolicy"], webhook["timeoutSeconds"]) == (failure_policy, timeout)


def _excluded_namespaces(webhook: dict[str, object]) -> list[str]:
    selector = webhook["namespaceSelector"]
    assert isinstance(selector, dict)
    (by_name,) = [e for e in selector["matchExpressions"] if e["key"] == "kubernetes.io/metadata.name"]
    assert by_name["operator"] == "NotIn"
    return list(by_name["values"])


@pytest.mark.parametrize(
    ("exclude", "expected"),
    [
        (None, [NAMESPACE, "kube-system"]),
        ([], [NAMESPACE]),
        (["kube-system", "monitoring"], [NAMESPACE, "kube-system", "monitoring"]),
        ([NAMESPACE, "kube-system"], [NAMESPACE, "kube-system"]),
    ],
)
def test_release_namespace_is_always_excluded_with_the_configured_list(
    chart: Chart, exclude: list[str] | None, expected: list[str]
) -> None:
    values = {} if exclude is None else {"webhook": {"excludeNamespaces": exclude}}
    assert _excluded_namespaces(chart.render(values).webhook) == expected


def test_extra_selector_expressions_are_added_to_the_builtin_ones(chart: Chart) -> None:
    webhook = chart.render(EVERYTHING).webhook
    assert {"key": "team", "operator": "Exists"} in webhook["namespaceSelector"]["matchExpressions"]
    assert {"key": "app", "operator": "NotIn", "values": ["legacy"]} in webhook["objectSelector"][
        "matchExpressions"
    ]
    assert _excluded_namespaces(webhook) == [NAMESPACE, "kube-system", "monitoring"]


@pytest.mark.parametrize(
    ("values", "label"),
    [
        (SELF, "eks.amazonaws.com/skip-pod-identity-webhook"),
        (EVERYTHING, "iam.example.com/skip-pod-identity-webhook"),
    ],
)
def test_pods_with_the_skip_label_never_reach_the_webhook(
    chart: Chart, values: dict[str, object], label: str
) -> None:
    expressions = chart.render(values).webhook["objectSelector"]["matchExpressions"]
    assert {"key": label, "operator": "DoesNotExist"} in expressions


@pytest.mark.parametrize("scenario", ALL)
def test_webhook_calls_the_charts_service_on_the_mutate_path(chart: Chart, scenario: str) -> None:
    rendered = chart.render(ALL[scenario])
    service = next(s for s in rendered.of_kind("Service") if s["metadata"]["name"] == FULLNAME)
    (port,) = service["spec"]["ports"]
    assert rendered.webhook["clientConfig"]["service"] == {
        "name": FULLNAME,
        "namespace": NAMESPACE,
        "path": "/mutate",
        "port": port["port"],
    }
    assert (port["port"], port["targetPort"]) == (443, "webhook")
    container_port = next(p for p in rendered.container["ports"] if p["name"] == "webhook")
    assert container_port["containerPort"] == 8443


@pytest.mark.parametrize("values", [SELF, CERT_MANAGER], ids=["self", "cert-manager"])
def test_chart_never_writes_a_ca_bundle_another_component_injects(
    chart: Chart, values: dict[str, object]
) -> None:
    """helm's three-way merge and server-side apply keep a field the chart never set: an upgrade or a
    GitOps sync cannot wipe the bundle the webhook (or cert-manager's cainjector) wrote."""
    assert "caBundle" not in chart.render(values).webhook["clientConfig"]


def test_secret_mode_sets_the_given_ca_bundle(chart: Chart) -> None:
    assert chart.render(SECRET).webhook["clientConfig"]["caBundle"] == CA_BUNDLE


def test_cert_manager_mode_injects_the_ca_of_the_certificate_the_server_mounts(chart: Chart) -> None:
    rendered = chart.render(CERT_MANAGER)
    configuration = rendered.one("MutatingWebhookConfiguration")
    namespace, name = configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    certificate = next(c for c in rendered.of_kind("Certificate") if c["metadata"]["name"] == name)
    assert namespace == NAMESPACE
    assert f"{FULLNAME}.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    (tls_volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == "tls"]
    assert tls_volume["secret"]["secretName"] == certificate["spec"]["secretName"]


def test_cert_manager_mode_makes_its_own_ca_chain_unless_given_an_issuer(chart: Chart) -> None:
    own = chart.render(CERT_MANAGER)
    serving = next(c for c in own.of_kind("Certificate") if c["metadata"]["name"] == FULLNAME)
    ca = next(c for c in own.of_kind("Certificate") if c["spec"].get("isCA"))
    ca_issuer = next(i for i in own.of_kind("Issuer") if "ca" in i["spec"])
    assert ca_issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
    assert serving["spec"]["issuerRef"] == {"name": ca_issuer["metadata"]["name"], "kind": "Issuer"}

    given = chart.render(EVERYTHING)
    assert f"{FULLNAME}.{NAMESPACE}.svc.corp.internal" in given.one("Certificate")["spec"]["dnsNames"]
    assert given.of_kind("Issuer") == []
    assert given.one("Certificate")["spec"]["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer"}


def _serviceaccount_webhook(chart: Chart, values: dict[str, object]) -> dict[str, Any]:
    (webhook,) = chart.render(values).one("ValidatingWebhookConfiguration")["webhooks"]
    found: dict[str, Any] = webhook
    return found


@pytest.mark.parametrize("scenario", ALL)
def test_serviceaccount_warnings_review_every_write_and_never_block(chart: Chart, scenario: str) -> None:
    webhook = _serviceaccount_webhook(chart, ALL[scenario])
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["sideEffects"] == "None"
    assert webhook["rules"] == [
        {
            "operations": ["CREATE", "UPDATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["serviceaccounts"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["clientConfig"]["service"]["path"] == "/validate-serviceaccount"
    assert _excluded_namespaces(webhook) == _excluded_namespaces(chart.render(ALL[scenario]).webhook)


@pytest.mark.parametrize(
    ("values", "timeout"),
    [(SELF, 2), ({"serviceAccountWarnings": {"timeoutSeconds": 1}}, 1), (EVERYTHING, 3)],
)
def test_serviceaccount_warnings_wait_briefly(chart: Chart, values: dict[str, object], timeout: int) -> None:
    assert _serviceaccount_webhook(chart, values)["timeoutSeconds"] == timeout


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (SELF, {"caBundle": None, "inject-ca-from": None}),
        (SECRET, {"caBundle": CA_BUNDLE, "inject-ca-from": None}),
        (CERT_MANAGER, {"caBundle": None, "inject-ca-from": f"{NAMESPACE}/{FULLNAME}"}),
    ],
    ids=["self", "secret", "cert-manager"],
)
def test_serviceaccount_warnings_trust_the_same_ca_as_the_mutating_webhook(
    chart: Chart, values: dict[str, object], expected: dict[str, str | None]
) -> None:
    configuration = chart.render(values).one("ValidatingWebhookConfiguration")
    (webhook,) = configuration["webhooks"]
    assert {
        "caBundle": webhook["clientConfig"].get("caBundle"),
        "inject-ca-from": configuration["metadata"]
        .get("annotations", {})
        .get("cert-manager.io/inject-ca-from"),
    } == expected
    assert configuration["metadata"]["name"] == FULLNAME  # self mode's --webhook-config-name names both


def test_serviceaccount_warnings_are_off_with_one_value(chart: Chart) -> None:
    rendered = chart.render({"serviceAccountWarnings": {"enabled": False}})
    assert "ValidatingWebhookConfiguration" not in rendered.kinds
    assert rendered.flag("--serviceaccount-warnings") is None
