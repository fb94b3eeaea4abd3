"""A ServiceAccount changed through the API is followed by the next pod: live, in a race with its pod, after
the API server restarts under the webhook, and after etcd compacts the history the watch stood on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.apiserver.cluster import (
    ApiError,
    Cluster,
    Json,
    env_of,
    eventually,
    pod,
    unique_name,
    until_pods_show,
)
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import Webhook, WebhookFactory, registration_from_chart
from tests.chart.rendering import Chart
from tests.integration.server_process import value

FIRST = "arn:aws:iam::111122223333:role/first"
SECOND = "arn:aws:iam::111122223333:role/second"
RESTART_LIMIT_SECONDS = 120.0
"""A bound for the watch to reconnect after an API server restart: its backoff reaches 30 s at most."""
COMPACTION_ROUNDS = 3
RACE_ROUNDS = 400
"""At most this many ServiceAccount-and-pod pairs until one pod has reached the API fallback path."""


def _role_of(stored: Json) -> str | None:
    return env_of(stored, "app").get("AWS_ROLE_ARN")


def test_a_role_added_changed_and_removed_is_followed_by_the_next_pod(cluster: Cluster) -> None:
    namespace = cluster.namespace()
    cluster.service_account(namespace, "app")

    def create() -> Json:
        return cluster.create_pod(namespace, pod(service_account="app"))

    assert _role_of(create()) is None
    cluster.annotate_service_account(namespace, "app", {"eks.amazonaws.com/role-arn": FIRST})
    until_pods_show(create, expected=lambda stored: _role_of(stored) == FIRST)
    cluster.annotate_service_account(namespace, "app", {"eks.amazonaws.com/role-arn": SECOND})
    until_pods_show(create, expected=lambda stored: _role_of(stored) == SECOND)
    cluster.annotate_service_account(namespace, "app", {"eks.amazonaws.com/role-arn": None})
    until_pods_show(create, expected=lambda stored: _role_of(stored) is None)


def _create_pod_once_its_serviceaccount_exists(session: httpx.Client, namespace: str, account: str) -> Json:
    """As a controller does: retry while the API server's own admission does not find the ServiceAccount yet."""

    def attempt() -> Json:
        response = session.post(f"/api/v1/namespaces/{namespace}/pods", json=pod(service_account=account))
        if response.status_code >= 300:
            raise ApiError(f"{response.status_code} {response.text}")
        body: Json = response.json()
        return body

    return eventually(attempt, interval=0.01)


def test_pods_racing_their_serviceaccount_are_all_mutated(
    cluster: Cluster, session_plane: ControlPlane, session_webhook: Webhook
) -> None:
    """ServiceAccount and pod sent together, many times: some pods reach the webhook before its watch has
    delivered their ServiceAccount, and those take the direct API read. Rounds go on until that path ran."""
    namespace = cluster.namespace()
    found_before = value(session_webhook.metrics(), "serviceaccount_api_fallbacks_total", result="found")
    unmutated: list[str] = []
    rounds = 0
    with (
        session_plane.admin_client() as accounts,
        session_plane.admin_client() as pods,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        while rounds < RACE_ROUNDS:
            rounds += 1
            account = unique_name("racer")
            created = pool.submit(
                accounts.post,
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                json={"metadata": {"name": account, "annotations": {"eks.amazonaws.com/role-arn": FIRST}}},
            )
            stored = pool.submit(
                _create_pod_once_its_serviceaccount_exists, pods, namespace, account
            ).result()
            assert created.result().status_code == 201
            if _role_of(stored) != FIRST:
                unmutated.append(stored["metadata"]["name"])
            found = value(session_webhook.metrics(), "serviceaccount_api_fallbacks_total", result="found")
            if found > found_before and rounds >= 20:
                break
    assert unmutated == []
    assert found > found_before, f"no pod reached the API fallback in {rounds} rounds"


def _start_watching_webhook(own_webhooks: WebhookFactory, chart: Chart, name: str) -> Webhook:
    webhook = own_webhooks.start(name=name)
    own_webhooks.register(
        registration_from_chart(chart, url=webhook.mutate_url, ca=own_webhooks.certificates.ca, name=name)
    )
    return webhook


def test_a_change_made_after_the_api_server_restarted_is_followed(
    own_plane: ControlPlane, own_cluster: Cluster, own_webhooks: WebhookFactory, chart: Chart
) -> None:
    _start_watching_webhook(own_webhooks, chart, "restart")
    namespace = own_cluster.namespace()
    own_cluster.service_account(namespace, "app", annotations={"eks.amazonaws.com/role-arn": FIRST})
    assert _role_of(own_cluster.create_pod(namespace, pod(service_account="app"))) == FIRST

    own_plane.crash_apiserver()
    own_plane.start_apiserver()
    with own_plane.admin_client() as client:
        restarted = Cluster(client)
        restarted.annotate_service_account(namespace, "app", {"eks.amazonaws.com/role-arn": SECOND})
        until_pods_show(
            lambda: restarted.create_pod(namespace, pod(service_account="app")),
            expected=lambda stored: _role_of(stored) == SECOND,
            limit=RESTART_LIMIT_SECONDS,
        )


def _until_pods_get(role: str, *, plane: ControlPlane, namespace: str) -> None:
    """Through a new client: the API server behind the old one's connections has restarted."""
    with plane.admin_client() as client:
        restarted = Cluster(client)
        until_pods_show(
            lambda: restarted.create_pod(namespace, pod(service_account="app")),
            expected=lambda stored: _role_of(stored) == role,
            limit=RESTART_LIMIT_SECONDS,
        )


def test_history_compacted_away_under_the_watch_is_listed_again(
    own_plane: ControlPlane, own_cluster: Cluster, own_webhooks: WebhookFactory, chart: Chart
) -> None:
    """While the webhook is paused, the API server goes down, etcd moves on and compacts its history, and the
    role changes: the watch resumes from a resourceVersion that is gone, the API server answers 410 Gone, and
    the webhook lists again instead of missing the change. Every round must follow its change; rounds go on
    (at most COMPACTION_ROUNDS) until the API server has answered 410 at least once, which it did not in one
    CI run out of several, for a reason this test could not pin down."""
    webhook = _start_watching_webhook(own_webhooks, chart, "compaction")
    namespace = own_cluster.namespace()
    own_cluster.service_account(namespace, "app", annotations={"eks.amazonaws.com/role-arn": FIRST})
    until_pods_show(
        lambda: own_cluster.create_pod(namespace, pod(service_account="app")),
        expected=lambda stored: _role_of(stored) == FIRST,
    )

    for round_ in range(COMPACTION_ROUNDS):
        role = f"{SECOND}-{round_}"
        with webhook.paused():
            own_plane.crash_apiserver()
            own_plane.write_and_compact_etcd()
            own_plane.start_apiserver()
            with own_plane.admin_client() as client:
                Cluster(client).annotate_service_account(
                    namespace, "app", {"eks.amazonaws.com/role-arn": role}
                )
        _until_pods_get(role, plane=own_plane, namespace=namespace)
        if "410 Gone" in webhook.server.output():
            break
    assert "410 Gone" in webhook.server.output()
