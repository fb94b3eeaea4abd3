"""The Deployment and what keeps it available: security, probes, scheduling, disruption budget, and the
server flags every value turns into."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.rendering import FULLNAME, NAMESPACE, Chart
from tests.chart.scenarios import ALL, CERT_MANAGER, EVERYTHING, SECRET, SELF
from webhook.cli import build_parser

pytestmark = pytest.mark.helm


@pytest.mark.parametrize("scenario", ALL)
def test_server_accepts_every_argument_the_chart_passes(chart: Chart, scenario: str) -> None:
    args = build_parser().parse_args(chart.render(ALL[scenario]).args)
    assert args.command == "serve"


@pytest.mark.parametrize("scenario", ALL)
def test_webhook_runs_under_the_restricted_pod_security_standard(chart: Chart, scenario: str) -> None:
    rendered = chart.render(ALL[scenario])
    pod_security = rendered.pod_spec["securityContext"]
    container_security = rendered.container["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 65532
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["capabilities"] == {"drop": ["ALL"]}
    assert "hostNetwork" not in rendered.pod_spec


@pytest.mark.parametrize(("probe", "path"), [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")])
def test_probes_ask_the_server_over_https_on_the_webhook_port(chart: Chart, probe: str, path: str) -> None:
    container = chart.render().container
    check = container[probe]["httpGet"]
    (webhook_port,) = [p for p in container["ports"] if p["name"] == check["port"]]
    assert (check["path"], check["scheme"], webhook_port["containerPort"]) == (path, "HTTPS", 8443)
    assert chart.render().flag("--port") == "8443"


def test_defaults_keep_two_spread_out_cluster_critical_replicas(chart: Chart) -> None:
    rendered = chart.render()
    deployment = rendered.one("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert rendered.pod_spec["priorityClassName"] == "system-cluster-critical"
    (anti_affinity,) = rendered.pod_spec["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert anti_affinity["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    (spread,) = rendered.pod_spec["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["labelSelector"]["matchLabels"]) == (
        "topology.kubernetes.io/zone",
        selector,
    )
    assert rendered.container["resources"]["requests"].keys() == {"cpu", "memory"}
    assert rendered.container["resources"]["limits"].keys() == {"memory"}


def test_pod_disruption_budget_keeps_one_replica_through_drains(chart: Chart) -> None:
    rendered = chart.render()
    budget = rendered.one("PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert (
        budget["spec"]["selector"]["matchLabels"]
        == rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    )


def test_a_single_replica_gets_no_disruption_budget_that_would_block_drains(chart: Chart) -> None:
    assert chart.render({"replicaCount": 1}).of_kind("PodDisruptionBudget") == []


def test_a_stopping_replica_keeps_serving_while_endpoints_catch_up_then_drains_within_its_grace(
    chart: Chart,
) -> None:
    rendered = chart.render()
    grace = rendered.pod_spec["terminationGracePeriodSeconds"]
    assert rendered.flag("--shutdown-delay") == "5"
    assert int(rendered.flag("--shutdown-delay") or 0) + int(rendered.flag("--shutdown-timeout") or 0) < grace


@pytest.mark.parametrize("delay", [0, 5])
def test_the_delay_is_the_servers_own_with_no_pre_stop_hook_that_needs_sleep_in_the_image(
    chart: Chart, delay: int
) -> None:
    rendered = chart.render({"shutdownDelaySeconds": delay, "terminationGracePeriodSeconds": 10 + delay})
    assert "lifecycle" not in rendered.container
    assert rendered.flag("--shutdown-delay") == str(delay)
    assert rendered.flag("--shutdown-timeout") == "5"


@pytest.mark.parametrize(
    ("anti_affinity", "surge", "unavailable"), [("soft", 1, 0), ("none", 1, 0), ("hard", 0, 1)]
)
def test_a_rollout_never_needs_a_node_hard_anti_affinity_cannot_give(
    chart: Chart, anti_affinity: str, surge: int, unavailable: int
) -> None:
    """A surge replica under hard anti-affinity needs a node with no webhook pod: there may be none."""
    rolling = chart.render({"podAntiAffinity": anti_affinity}).one("Deployment")["spec"]["strategy"][
        "rollingUpdate"
    ]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (surge, unavailable)


def test_scheduling_and_pod_settings_come_from_values(chart: Chart) -> None:
    rendered = chart.render(EVERYTHING)
    spec = rendered.pod_spec
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert rendered.one("Deployment")["spec"]["replicas"] == 3
    assert "priorityClassName" not in spec
    assert spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert spec["topologySpreadConstraints"] == EVERYTHING["topologySpreadConstraints"]
    assert spec["nodeSelector"] == EVERYTHING["nodeSelector"]
    assert spec["tolerations"] == EVERYTHING["tolerations"]
    assert spec["imagePullSecrets"] == EVERYTHING["imagePullSecrets"]
    assert spec["serviceAccountName"] == "identity-webhook"
    assert pod_labels["team"] == "platform"
    assert (
        rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
        == EVERYTHING["podAnnotations"]
    )
    assert (
        rendered.container["image"] == "registry.example.com/platform/pod-identity-webhook@sha256:" + "a" * 64
    )
    assert {"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"} in rendered.container["env"]
    assert {"name": "scratch", "emptyDir": {}} in spec["volumes"]
    assert {"name": "scratch", "mountPath": "/scratch"} in rendered.container["volumeMounts"]
    assert rendered.args[-1] == "--max-request-bytes=1048576"


def test_image_tag_defaults_to_the_app_version_which_is_the_projects_version(
    chart: Chart, repo_root: Path
) -> None:
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    app_version = yaml.safe_load((chart.path / "Chart.yaml").read_text())["appVersion"]
    assert app_version == version
    assert chart.render().container["image"] == f"pod-identity-webhook:{version}"
    assert chart.render({"image": {"tag": "dev"}}).container["image"] == "pod-identity-webhook:dev"


@pytest.mark.parametrize(
    ("flag", "default", "configured"),
    [
        ("--annotation-prefix", "eks.amazonaws.com", "iam.example.com"),
        ("--token-audience", "sts.amazonaws.com", "sts.example.com"),
        (
            "--token-mount-path",
            "/var/run/secrets/eks.amazonaws.com/serviceaccount",
            "/var/run/secrets/iam.example.com/serviceaccount",
        ),
        ("--token-expiration", "86400", "3600"),
        ("--aws-default-region", None, "eu-west-1"),
        ("--sts-regional-endpoint", "false", "true"),
        (
            "--container-credentials-full-uri",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
        ),
        ("--api-fallback-timeout", "1", "2.5"),
        ("--tls-min-version", "1.2", "1.3"),
        ("--log-format", "json", "text"),
        ("--log-level", "info", "debug"),
        ("--metrics-port", "9999", "9100"),
        ("--watch-config-map", None, ""),
        ("--serviceaccount-warnings", "", ""),
        ("--find-missed-credentials", None, ""),
        ("--missed-credentials-interval", None, "300"),
        ("--exclude-namespaces", None, f"{NAMESPACE},kube-system,monitoring"),
        ("--repair-missed-credentials", None, ""),
        ("--repair-interval", None, "30"),
    ],
)
def test_each_setting_reaches_its_server_flag(
    chart: Chart, flag: str, default: str | None, configured: str
) -> None:
    assert chart.render().flag(flag) == default
    assert chart.render(EVERYTHING).flag(flag) == configured


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            SELF,
            {
                "--tls-mode": "self",
                "--tls-secret": f"{FULLNAME}-tls",
                "--service-name": FULLNAME,
                "--cluster-domain": "cluster.local",
                "--tls-cert-validity-days": "365",
            },
        ),
        (
            {"certificates": {"mode": "self", "self": {"secretName": "webhook-ca", "caValidityDays": 3650}}},
            {"--tls-secret": "webhook-ca", "--tls-ca-validity-days": "3650"},
        ),
        (CERT_MANAGER, {"--tls-mode": "files", "--tls-cert": "/etc/pod-identity-webhook/tls/tls.crt"}),
        (SECRET, {"--tls-mode": "files", "--tls-key": "/etc/pod-identity-webhook/tls/tls.key"}),
    ],
    ids=["self", "self-custom", "cert-manager", "secret"],
)
def test_tls_flags_follow_the_certificate_mode(
    chart: Chart, values: dict[str, Any], expected: dict[str, str]
) -> None:
    rendered = chart.render(values)
    assert {flag: rendered.flag(flag) for flag in expected} == expected


@pytest.mark.parametrize(
    ("values", "secret"), [(CERT_MANAGER, f"{FULLNAME}-tls"), (SECRET, "corp-webhook-tls")]
)
def test_file_modes_mount_the_whole_tls_secret_so_renewals_reach_the_server(
    chart: Chart, values: dict[str, Any], secret: str
) -> None:
    rendered = chart.render(values)
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == "tls"]
    (mount,) = [m for m in rendered.container["volumeMounts"] if m["name"] == "tls"]
    assert volume["secret"] == {"secretName": secret}
    assert "subPath" not in mount
    assert rendered.flag("--tls-cert") == f"{mount['mountPath']}/tls.crt"


def test_self_mode_mounts_no_certificate(chart: Chart) -> None:
    rendered = chart.render(SELF)
    assert [v["name"] for v in rendered.pod_spec["volumes"]] == ["tmp"]
    assert rendered.flag("--tls-cert") is None


def test_mappings_configmap_has_the_name_and_key_the_server_watches(chart: Chart) -> None:
    rendered = chart.render(EVERYTHING)
    (config_map,) = [
        c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"] == "pod-identity-webhook"
    ]
    assert json.loads(config_map["data"]["config"]) == EVERYTHING["mappings"]["roles"]
    assert "pod-identity-webhook" not in [c["metadata"]["name"] for c in chart.render().of_kind("ConfigMap")]
    owned_elsewhere = chart.render({"mappings": {"enabled": True, "create": False}})
    assert owned_elsewhere.of_kind("ConfigMap") == []
    assert owned_elsewhere.flag("--watch-config-map") == ""


def test_pod_identity_list_is_a_watched_file_from_a_whole_configmap_volume(chart: Chart) -> None:
    rendered = chart.render(EVERYTHING)
    path = rendered.flag("--watch-container-credentials-config")
    assert path is not None
    (mount,) = [m for m in rendered.container["volumeMounts"] if m["name"] == "pod-identities"]
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == "pod-identities"]
    (config_map,) = [
        c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"]
    ]
    directory, file_name = path.rsplit("/", 1)
    assert (directory, "subPath" in mount) == (mount["mountPath"], False)
    assert json.loads(config_map["data"][file_name]) == {
        "identities": EVERYTHING["podIdentity"]["identities"]
    }
    assert chart.render().flag("--watch-container-credentials-config") is None


def test_metrics_service_and_service_monitor_scrape_the_metrics_port(chart: Chart) -> None:
    rendered = chart.render(EVERYTHING)
    (metrics,) = [s for s in rendered.of_kind("Service") if s["metadata"]["name"] == f"{FULLNAME}-metrics"]
    monitor = rendered.one("ServiceMonitor")
    (port,) = metrics["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (9100, "metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert chart.render({"metrics": {"enabled": False}}).of_kind("ServiceMonitor") == []
