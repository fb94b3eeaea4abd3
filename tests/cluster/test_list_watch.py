"""What a list hands over, read page by page from an API server speaking the real wire protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest
from kubernetes.client import ApiClient, CoreV1Api

from tests.cluster.support import FAST_BACKOFF, eventually, service_account
from tests.fake_apiserver import FakeApiServer
from webhook.cluster.list_watch import EventType, KubeObject, ListWatch

Handed = list[tuple[str, list[str]]]
Seen = tuple[Handed, list[str]]


@pytest.fixture
def start(fake_apiserver: FakeApiServer, cluster: ApiClient) -> Iterator[Callable[[], Seen]]:
    """Follow ServiceAccounts in pages of five; gives the lists (their resourceVersion and names) and the
    watch events (type and name). While the first list is read, after its first item, a ServiceAccount
    `late` is created."""
    lists: Handed = []
    events: list[str] = []

    def on_replace(items: Iterable[KubeObject], version: str) -> None:
        names: list[str] = []
        for item in items:
            if not names:
                fake_apiserver.apply(service_account("late"))
            names.append(item.metadata.name)
        lists.append((version, names))

    def on_event(event: EventType, item: KubeObject) -> None:
        events.append(f"{event} {item.metadata.name}")

    list_watch = ListWatch(
        name="serviceaccounts",
        description="serviceaccounts",
        list_call=CoreV1Api(cluster).list_service_account_for_all_namespaces,
        item_type=KubeObject,
        on_replace=on_replace,
        on_event=on_event,
        backoff=FAST_BACKOFF,
        page_size=5,
    )

    def start() -> Seen:
        list_watch.start()
        return lists, events

    yield start
    list_watch.stop()


def test_a_list_is_handed_over_with_the_resource_version_of_its_snapshot(
    fake_apiserver: FakeApiServer, start: Callable[[], Seen]
) -> None:
    names = [f"app-{number:02}" for number in range(12)]
    snapshot = [fake_apiserver.apply(service_account(name)) for name in names][-1]["metadata"]

    lists, _ = start()

    eventually(lambda: lists, what="the first list")

    assert lists == [(snapshot["resourceVersion"], names)]


def test_a_serviceaccount_created_while_the_list_is_read_arrives_through_the_watch(
    fake_apiserver: FakeApiServer, start: Callable[[], Seen]
) -> None:
    for number in range(12):
        fake_apiserver.apply(service_account(f"app-{number:02}"))

    lists, events = start()

    eventually(lambda: events, what="a watch event")

    assert events == ["ADDED late"]
    assert "late" not in lists[0][1]
