"""Pods that missed their credentials, against a real API server: created while the webhook was down (or
before their ServiceAccount had a role), they are reported once the webhook is back, once each; with repair
on, a controller-owned pod is evicted (a PodDisruptionBudget holding it back until it allows) and a bare pod
only reported; `audit` finds the same pods. Every webhook here runs with a token of the chart's own
ServiceAccount, bound to exactly the roles the chart renders for the options it is given.

What this suite cannot show: the evicted pod coming back with credentials, which takes a controller manager
and a node (the real-node suite does it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.chart_roles import kubeconfig_with_chart_roles
from tests.apiserver.cluster import ApiError, Cluster, Json, eventually, pod, unique_name
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import Webhook, WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.chart.scenarios import SECRET
from tests.e2e.pod_assertions import irsa_problems, untouched_problems
from tests.integration.server_process import value

ROLE = "arn:aws:iam::111122223333:role/missed"
REASON = "MissedAWSCredentials"
FIND = {**SECRET, "missedCredentials": {"enabled": True}}
REPAIR = {**SECRET, "missedCredentials": {"enabled": True, "repair": {"enabled": True}}}
AUDIT_LIMIT_SECONDS = 120
SCAN_EVERY_SECOND = ("--missed-credentials-interval", "1")


@pytest.fixture
def namespace(own_cluster: Cluster) -> str:
    name = own_cluster.namespace()
    own_cluster.service_account(name, "app", annotations={"eks.amazonaws.com/role-arn": ROLE})
    return name


def chart_kubeconfig(plane: ControlPlane, chart: Chart, values: dict[str, Any], tmp_path: Path) -> Path:
    return kubeconfig_with_chart_roles(plane, chart, values=values, path=tmp_path / "webhook.kubeconfig")


def replica_set(cluster: Cluster, namespace: str) -> Json:
    """A ReplicaSet no controller acts on (there is no controller manager): only an owner for pods."""
    return cluster.create(
        f"/apis/apps/v1/namespaces/{namespace}/replicasets",
        {
            "metadata": {"name": unique_name("rs")},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "owned"}},
                "template": {
                    "metadata": {"labels": {"app": "owned"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
                },
            },
        },
    )


def owned_pod(owner: Json, *, labels: dict[str, str] | None = None) -> Json:
    created = pod(service_account="app", labels={"app": "owned", **(labels or {})})
    created["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    return created


def unmutated(cluster: Cluster, namespace: str, created: Json) -> Json:
    """Create a pod no webhook sees, as the API server does while the webhook is down (failurePolicy
    Ignore): it is stored without credentials."""
    stored = cluster.create_pod(namespace, created)
    assert untouched_problems(stored) == []
    return stored


def running(cluster: Cluster, stored: Json) -> Json:
    """The pod reported Running, as its kubelet would: the Eviction API lets a Pending pod go whatever its
    PodDisruptionBudget says, and there is no kubelet here."""
    meta = stored["metadata"]
    return cluster.merge_patch(
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", {"status": {"phase": "Running"}}
    )


def events_on(cluster: Cluster, stored: Json) -> list[Json]:
    namespace, uid = stored["metadata"]["namespace"], stored["metadata"]["uid"]
    events: list[Json] = cluster.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    return [event for event in events if event["involvedObject"].get("uid") == uid]


def reported(cluster: Cluster, stored: Json) -> Json:
    """The one Event the webhook made on the pod, once it is there."""

    def check() -> Json:
        events = events_on(cluster, stored)
        assert len(events) == 1, events
        return events[0]

    return eventually(check)


def exists(cluster: Cluster, stored: Json) -> bool:
    response = cluster.request(
        "GET", f"/api/v1/namespaces/{stored['metadata']['namespace']}/pods/{stored['metadata']['name']}"
    )
    if response.status_code not in (200, 404):
        raise ApiError(f"GET pod: {response.status_code} {response.text}")
    return response.status_code == 200 and response.json()["metadata"]["uid"] == stored["metadata"]["uid"]


def log_lines(webhook: Webhook, text: str) -> int:
    return sum(text in line for line in webhook.server.output().splitlines())


def test_a_pod_created_while_the_webhook_was_down_is_reported_once_it_is_back(
    own_plane: ControlPlane,
    own_cluster: Cluster,
    own_webhooks: WebhookFactory,
    chart: Chart,
    namespace: str,
    tmp_path: Path,
) -> None:
    kubeconfig = chart_kubeconfig(own_plane, chart, FIND, tmp_path)
    webhook = own_webhooks.start(name="finder-before", kubeconfig=kubeconfig)
    configuration = registration_from_chart(
        chart, url=webhook.mutate_url, ca=own_webhooks.certificates.ca, name="finder"
    )
    with own_webhooks.registered(configuration):
        assert webhook.stop() == 0
        bare = unmutated(own_cluster, namespace, pod(service_account="app"))
        owned = unmutated(own_cluster, namespace, owned_pod(replica_set(own_cluster, namespace)))

        back = own_webhooks.start(
            "--find-missed-credentials",
            *SCAN_EVERY_SECOND,
            name="finder",
            port=webhook.server.port,
            kubeconfig=kubeconfig,
        )
        assert (
            irsa_problems(own_cluster.create_pod(namespace, pod(service_account="app")), role_arn=ROLE) == []
        )

        bare_event, owned_event = reported(own_cluster, bare), reported(own_cluster, owned)
        eventually(lambda: _gauge_is(back, 2))

        # A pod whose ServiceAccount gets its role only after the pod was created: found by a later scan,
        # which also proves the pods above were scanned again without being reported again.
        own_cluster.service_account(namespace, "late")
        late = own_cluster.create_pod(namespace, pod(service_account="late"))
        own_cluster.annotate_service_account(namespace, "late", {"eks.amazonaws.com/role-arn": ROLE})
        late_event = reported(own_cluster, late)
        eventually(lambda: _gauge_is(back, 3))
        assert back.stop() == 0

    for event in (bare_event, owned_event, late_event):
        assert (event["type"], event["reason"], event["source"]) == (
            "Warning",
            REASON,
            {"component": "pod-identity-webhook"},
        )
        assert event["message"].startswith("container(s) app have no AWS credentials, but ServiceAccount ")
        assert (
            f"(IRSA: role {ROLE}, from the ServiceAccount's eks.amazonaws.com/role-arn annotation"
            in event["message"]
        )
    assert bare_event["message"].endswith(
        "this pod has no controller: create it again (delete and re-apply it) to get credentials"
    )
    assert "delete (or evict) this pod: its ReplicaSet rs-" in owned_event["message"]
    for stored in (bare, owned, late):
        assert len(events_on(own_cluster, stored)) == 1
        assert log_lines(back, f"pod {namespace}/{stored['metadata']['name']} missed its credentials") == 1
    assert exists(own_cluster, owned), "without repair nothing is evicted"


def _gauge_is(webhook: Webhook, expected: int) -> None:
    assert value(webhook.metrics(), "pods_missing_credentials") == expected


def test_with_repair_controller_owned_pods_are_evicted_when_their_budget_allows_and_bare_pods_only_reported(
    own_plane: ControlPlane,
    own_cluster: Cluster,
    own_webhooks: WebhookFactory,
    chart: Chart,
    namespace: str,
    tmp_path: Path,
) -> None:
    owner = replica_set(own_cluster, namespace)
    bare = unmutated(own_cluster, namespace, pod(service_account="app"))
    owned = unmutated(own_cluster, namespace, owned_pod(owner))
    protected = running(
        own_cluster, unmutated(own_cluster, namespace, owned_pod(owner, labels={"budget": "protected"}))
    )
    budget = f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets"
    own_cluster.create(
        budget,
        {
            "metadata": {"name": "protected"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"budget": "protected"}}},
        },
    )

    webhook = own_webhooks.start(
        "--find-missed-credentials", *SCAN_EVERY_SECOND,
        "--repair-missed-credentials", "--repair-interval", "1",
        name="repair",
        kubeconfig=chart_kubeconfig(own_plane, chart, REPAIR, tmp_path),
    )  # fmt: skip
    try:
        eventually(lambda: _is_gone(own_cluster, owned))
        eventually(lambda: _counted(webhook, "blocked"))
        assert exists(own_cluster, protected)

        own_cluster.delete(f"{budget}/protected")
        eventually(lambda: _is_gone(own_cluster, protected))
        reported(own_cluster, bare)
        assert exists(own_cluster, bare), "a bare pod has no controller to bring it back: only reported"
        assert log_lines(webhook, f"evicted pod {namespace}/{owned['metadata']['name']}") == 1
    finally:
        assert webhook.stop() == 0


def _is_gone(cluster: Cluster, stored: Json) -> None:
    assert not exists(cluster, stored)


def _counted(webhook: Webhook, result: str) -> None:
    assert value(webhook.metrics(), "repair_evictions_total", result=result) >= 1


@pytest.mark.parametrize(
    ("values", "flags", "refused"),
    [
        pytest.param(
            SECRET,
            ("--find-missed-credentials",),
            'cannot list resource "pods"',
            id="find-without-its-rules",
        ),
        pytest.param(
            FIND,
            ("--find-missed-credentials", "--repair-missed-credentials", "--repair-interval", "1"),
            "cannot evict pod",
            id="repair-without-its-rule",
        ),
    ],
)
def test_an_option_the_chart_did_not_grant_cannot_act(
    own_plane: ControlPlane,
    own_cluster: Cluster,
    own_webhooks: WebhookFactory,
    chart: Chart,
    namespace: str,
    tmp_path: Path,
    values: dict[str, Any],
    flags: tuple[str, ...],
    refused: str,
) -> None:
    owned = unmutated(own_cluster, namespace, owned_pod(replica_set(own_cluster, namespace)))
    webhook = own_webhooks.start(
        *flags,
        *SCAN_EVERY_SECOND,
        name="ungranted",
        kubeconfig=chart_kubeconfig(own_plane, chart, values, tmp_path),
    )
    try:
        eventually(lambda: _logged(webhook, refused))
        assert exists(own_cluster, owned)
    finally:
        assert webhook.stop() == 0


def _logged(webhook: Webhook, text: str) -> None:
    assert text in webhook.server.output()


def audit(
    own_plane: ControlPlane, repo_root: Path, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "webhook",
            "audit",
            "--kubeconfig",
            str(kubeconfig or own_plane.kubeconfig),
            *args,
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=AUDIT_LIMIT_SECONDS,
    )


def test_audit_names_each_pod_that_missed_its_credentials_and_exits_1(
    own_plane: ControlPlane, own_cluster: Cluster, repo_root: Path, namespace: str
) -> None:
    bare = unmutated(own_cluster, namespace, pod(service_account="app"))
    owned = unmutated(own_cluster, namespace, owned_pod(replica_set(own_cluster, namespace)))
    own_cluster.service_account(namespace, "plain")
    unmutated(own_cluster, namespace, pod(service_account="plain"))

    text = audit(own_plane, repo_root, "--namespace", namespace)
    as_json = audit(own_plane, repo_root, "--namespace", namespace, "-o", "json")

    assert (text.returncode, as_json.returncode) == (1, 1), text.stderr
    for stored in (bare, owned):
        assert (
            f"Pod {namespace}/{stored['metadata']['name']} (ServiceAccount app): missed its credentials\n"
            in text.stdout
        )
    assert (
        f"  IRSA: role {ROLE}, from the ServiceAccount's eks.amazonaws.com/role-arn annotation" in text.stdout
    )
    assert f"  container app:\n    adds AWS_ROLE_ARN={ROLE}\n" in text.stdout
    assert text.stdout.rstrip().endswith("2 of 3 pods missed their credentials")
    found = json.loads(as_json.stdout)
    assert found["checked"] == 3
    assert {(each["name"], each["controller"] is None) for each in found["missed"]} == {
        (bare["metadata"]["name"], True),
        (owned["metadata"]["name"], False),
    }


def test_audit_exits_0_when_no_pod_missed_its_credentials(
    own_plane: ControlPlane, own_cluster: Cluster, repo_root: Path, namespace: str
) -> None:
    own_cluster.service_account(namespace, "plain")
    unmutated(own_cluster, namespace, pod(service_account="plain"))

    result = audit(own_plane, repo_root, "--namespace", namespace)

    assert (result.returncode, result.stdout.strip()) == (0, "none of 1 pods missed its credentials")


def test_audit_exits_2_when_it_cannot_read_the_pods(
    own_plane: ControlPlane, chart: Chart, repo_root: Path, namespace: str, tmp_path: Path
) -> None:
    """The webhook's own ServiceAccount without the missed-credentials rules may not list pods."""
    result = audit(
        own_plane,
        repo_root,
        "--namespace",
        namespace,
        kubeconfig=chart_kubeconfig(own_plane, chart, SECRET, tmp_path),
    )

    assert result.returncode == 2
    assert result.stderr.startswith(
        "pod-identity-webhook: error: cannot list pods: the API server answered 403"
    )
    assert result.stdout == ""
