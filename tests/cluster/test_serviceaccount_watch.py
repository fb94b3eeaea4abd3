"""ServiceAccounts followed through list+watch against an API server speaking the real wire protocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from tests.cluster.support import FAST_BACKOFF, ROLE, eventually, metric, role_arn, service_account, watching
from tests.fake_apiserver import FakeApiServer, write_kubeconfig
from webhook.cluster import list_watch
from webhook.cluster.kube_client import api_client
from webhook.cluster.serviceaccount_watch import WatchedServiceAccounts
from webhook.errors import ServiceAccountSourceError

PAGE = 5
LIST_PATH = "/api/v1/serviceaccounts"

Start = Callable[..., WatchedServiceAccounts]


@pytest.fixture
def start(cluster: ApiClient) -> Iterator[Start]:
    """Start watching (small pages, quick reconnects) and, unless told not to, wait for the first list."""
    started: list[WatchedServiceAccounts] = []

    def start(*, wait: bool = True, **overrides: Any) -> WatchedServiceAccounts:
        options: dict[str, Any] = {"annotation_prefix": "eks.amazonaws.com", "fallback_timeout": 2.0}
        directory = WatchedServiceAccounts(
            api_client=cluster, backoff=FAST_BACKOFF, page_size=PAGE, **(options | overrides)
        )
        directory.start()
        started.append(directory)
        if wait:
            eventually(lambda: directory.synced, what="the first list")
        return directory

    yield start
    for directory in started:
        directory.stop()


def blocked_in_watch(fake: FakeApiServer, watches: int) -> None:
    eventually(lambda: fake.count("watch") >= watches, what=f"watch request number {watches}")


def test_first_list_fills_the_cache_page_by_page(fake_apiserver: FakeApiServer, start: Start) -> None:
    for number in range(12):
        fake_apiserver.apply(
            service_account(f"app-{number}", f"team-{number % 3}", role=role_arn(f"app-{number}"))
        )
    fake_apiserver.apply(service_account("default", "team-0", **{"example.com/unrelated": "x"}))

    directory = start()

    assert len(directory) == 13
    assert directory.cached("team-1", "app-4") == {ROLE: role_arn("app-4")}
    assert directory.cached("team-0", "default") == {}
    assert directory.cached("team-0", "missing") is None
    assert fake_apiserver.count("list", LIST_PATH) == 3


def test_not_synced_until_the_first_list_is_complete(fake_apiserver: FakeApiServer, start: Start) -> None:
    with fake_apiserver.hold("list"):
        directory = start(wait=False)
        eventually(lambda: fake_apiserver.count("list") == 1, what="the list request")
        assert not directory.synced
    eventually(lambda: directory.synced, what="the first list")


def test_watch_events_add_modify_and_delete(fake_apiserver: FakeApiServer, start: Start) -> None:
    directory = start()

    fake_apiserver.apply(service_account("app", "shop", role=role_arn("first")))
    eventually(lambda: directory.cached("shop", "app") == {ROLE: role_arn("first")}, what="ADDED")
    fake_apiserver.apply(service_account("app", "shop", role=role_arn("second")))
    eventually(lambda: directory.cached("shop", "app") == {ROLE: role_arn("second")}, what="MODIFIED")
    fake_apiserver.apply(service_account("app", "shop"))
    eventually(lambda: directory.cached("shop", "app") == {}, what="MODIFIED, role removed")
    fake_apiserver.remove("v1", "ServiceAccount", "app", "shop")
    eventually(lambda: directory.cached("shop", "app") is None, what="DELETED")


@dataclass(frozen=True)
class Disconnection:
    """How the watch loses the API server, which request the server then holds while the changes happen,
    and whether the webhook must list again (history gone) or can resume from where it stopped."""

    cut: Callable[[FakeApiServer], None]
    held: str
    compact_meanwhile: bool
    relists: bool


DISCONNECTIONS = {
    "dropped connection, history kept: resume": Disconnection(
        cut=FakeApiServer.drop_watches, held="watch", compact_meanwhile=False, relists=False
    ),
    "dropped connection, history compacted: 410 on resume, list again": Disconnection(
        cut=FakeApiServer.drop_watches, held="watch", compact_meanwhile=True, relists=True
    ),
    "410 Gone inside the watch: list again": Disconnection(
        cut=FakeApiServer.expire_watches, held="list", compact_meanwhile=False, relists=True
    ),
}


@pytest.mark.parametrize("disconnection", DISCONNECTIONS.values(), ids=DISCONNECTIONS.keys())
def test_no_change_is_lost_across_a_disconnection(
    fake_apiserver: FakeApiServer, start: Start, disconnection: Disconnection
) -> None:
    fake_apiserver.apply(service_account("leaving", role=role_arn("leaving")))
    fake_apiserver.apply(service_account("changing", role=role_arn("before")))
    directory = start()
    lists, held = fake_apiserver.count("list"), fake_apiserver.count(disconnection.held)
    watching(fake_apiserver)

    with fake_apiserver.hold(disconnection.held):
        disconnection.cut(fake_apiserver)
        eventually(lambda: fake_apiserver.count(disconnection.held) > held, what="the reconnection")
        fake_apiserver.remove("v1", "ServiceAccount", "leaving", "default")
        fake_apiserver.apply(service_account("changing", role=role_arn("after")))
        fake_apiserver.apply(service_account("arriving", role=role_arn("arriving")))
        if disconnection.compact_meanwhile:
            fake_apiserver.compact()

    eventually(lambda: directory.cached("default", "arriving") is not None, what="the changes made meanwhile")
    assert directory.cached("default", "leaving") is None
    assert directory.cached("default", "changing") == {ROLE: role_arn("after")}
    assert (fake_apiserver.count("list") > lists) == disconnection.relists
    fake_apiserver.apply(service_account("later", role=role_arn("later")))
    eventually(lambda: directory.cached("default", "later") is not None, what="the watch after reconnecting")


def test_a_resumed_watch_starts_from_the_last_resource_version_it_saw(
    fake_apiserver: FakeApiServer, start: Start
) -> None:
    directory = start()
    watching(fake_apiserver)
    last_seen = fake_apiserver.apply(service_account("last-seen"))
    eventually(lambda: directory.cached("default", "last-seen") is not None, what="the event")

    fake_apiserver.drop_watches()

    blocked_in_watch(fake_apiserver, 2)
    resumed = [request for request in fake_apiserver.requests if request.verb == "watch"][1]
    assert resumed.query["resourceVersion"] == last_seen["metadata"]["resourceVersion"]


def test_a_watch_ended_by_the_server_resumes_from_its_last_bookmark(
    fake_apiserver: FakeApiServer, start: Start
) -> None:
    start()
    fake_apiserver.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "busy", "namespace": "x"}}
    )
    current = fake_apiserver.get("v1", "ConfigMap", "busy", "x")
    assert current is not None
    failures_before = metric("watch_failures_total", watch="serviceaccounts")

    watching(fake_apiserver)
    fake_apiserver.end_watches()

    blocked_in_watch(fake_apiserver, 2)
    resumed = [request for request in fake_apiserver.requests if request.verb == "watch"][1]
    assert resumed.query["resourceVersion"] == current["metadata"]["resourceVersion"]
    assert resumed.query["allowWatchBookmarks"] == "true"
    assert metric("watch_failures_total", watch="serviceaccounts") == failures_before, "a routine end"


def test_api_errors_are_logged_and_retried_until_the_list_succeeds(
    fake_apiserver: FakeApiServer, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    fake_apiserver.apply(service_account("app", role=role_arn("app")))
    fake_apiserver.fail_next("list", 403, times=3)
    failures_before = metric("watch_failures_total", watch="serviceaccounts")

    with caplog.at_level(logging.WARNING, logger="webhook.list_watch"):
        directory = start()

    assert directory.cached("default", "app") == {ROLE: role_arn("app")}
    reconnects = [record.getMessage() for record in caplog.records if "403" in record.getMessage()]
    assert len(reconnects) == 3
    assert "reconnecting in" in reconnects[0]
    assert metric("watch_failures_total", watch="serviceaccounts") - failures_before == 3


def test_a_miss_is_read_from_the_api_and_cached(fake_apiserver: FakeApiServer, start: Start) -> None:
    directory = start()
    found_before = metric("serviceaccount_api_fallbacks_total", result="found")

    watching(fake_apiserver)
    with fake_apiserver.hold("watch"):
        fake_apiserver.drop_watches()
        blocked_in_watch(fake_apiserver, 2)
        fake_apiserver.apply(service_account("just-created", "shop", role=role_arn("new")))
        assert directory.cached("shop", "just-created") is None

        found = asyncio.run(directory.fetch("shop", "just-created"))

        assert found == {ROLE: role_arn("new")}
        assert directory.cached("shop", "just-created") == found
    assert metric("serviceaccount_api_fallbacks_total", result="found") - found_before == 1


def test_a_read_answered_after_a_list_that_no_longer_held_it_is_used_once_not_cached(
    fake_apiserver: FakeApiServer, start: Start
) -> None:
    directory = start(fallback_timeout=10.0)
    watching(fake_apiserver)

    with ThreadPoolExecutor(1) as pool, fake_apiserver.hold("get", answers=True):
        with fake_apiserver.hold("watch"):
            fake_apiserver.drop_watches()
            blocked_in_watch(fake_apiserver, 2)
            fake_apiserver.apply(service_account("short-lived", "shop", role=role_arn("short-lived")))
            fetching = pool.submit(asyncio.run, directory.fetch("shop", "short-lived"))
            eventually(lambda: fake_apiserver.held_answers == 1, what="the read, answered late")
            fake_apiserver.remove("v1", "ServiceAccount", "short-lived", "shop")
            fake_apiserver.compact()
        eventually(lambda: fake_apiserver.count("watch") == 3, what="the watch after listing again")

    assert fetching.result() == {ROLE: role_arn("short-lived")}
    assert directory.cached("shop", "short-lived") is None


def test_a_serviceaccount_the_api_does_not_have_is_none(fake_apiserver: FakeApiServer, start: Start) -> None:
    directory = start()
    not_found_before = metric("serviceaccount_api_fallbacks_total", result="not_found")

    assert asyncio.run(directory.fetch("shop", "nobody")) is None
    assert directory.cached("shop", "nobody") is None
    assert metric("serviceaccount_api_fallbacks_total", result="not_found") - not_found_before == 1


def test_a_slow_api_cannot_hold_the_lookup_past_its_timeout(
    fake_apiserver: FakeApiServer, start: Start
) -> None:
    directory = start(fallback_timeout=0.2)
    fake_apiserver.delays["get"] = 30.0
    errors_before = metric("serviceaccount_api_fallbacks_total", result="error")

    with pytest.raises(
        ServiceAccountSourceError, match=r"shop/app .* took over 0.2s \(--api-fallback-timeout\)"
    ):
        asyncio.run(directory.fetch("shop", "app"))
    assert metric("serviceaccount_api_fallbacks_total", result="error") - errors_before == 1


def test_a_slow_api_is_a_timeout_even_when_the_event_loop_stalls_past_it(
    fake_apiserver: FakeApiServer, start: Start
) -> None:
    """A stalled loop (a long GC pause, a starved CPU) lets the read's own socket timeout finish before
    the lookup's timer: the operator must still be told it was the timeout, not handed urllib3's words."""
    directory = start(fallback_timeout=0.2)
    fake_apiserver.delays["get"] = 30.0

    async def fetch_while_the_loop_stalls() -> object:
        fetching = asyncio.create_task(directory.fetch("shop", "app"))
        while not fake_apiserver.count("get"):
            await asyncio.sleep(0.005)
        time.sleep(1.0)
        return await fetching

    with pytest.raises(
        ServiceAccountSourceError, match=r"shop/app .* took over 0.2s \(--api-fallback-timeout\)"
    ):
        asyncio.run(fetch_while_the_loop_stalls())


def test_a_timed_out_lookup_is_not_retried_behind_the_callers_back(
    fake_apiserver: FakeApiServer, start: Start
) -> None:
    directory = start(fallback_timeout=0.2)
    fake_apiserver.delays["get"] = 30.0

    with pytest.raises(ServiceAccountSourceError):
        asyncio.run(directory.fetch("shop", "app"))
    time.sleep(1.5)  # urllib3's own retries would have sent three more reads by now

    assert fake_apiserver.count("get", "/api/v1/namespaces/shop/serviceaccounts/app") == 1


def test_an_unreachable_api_is_an_error_not_a_missing_serviceaccount(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=f"http://127.0.0.1:{closed_port}")
    directory = WatchedServiceAccounts(
        api_client=api_client(kubeconfig=str(kubeconfig)),
        annotation_prefix="eks.amazonaws.com",
        fallback_timeout=2.0,
    )

    with pytest.raises(ServiceAccountSourceError, match="shop/app from the API failed"):
        asyncio.run(directory.fetch("shop", "app"))


def test_stop_ends_the_watch_promptly(fake_apiserver: FakeApiServer, start: Start) -> None:
    directory = start()
    watching(fake_apiserver)

    directory.stop()

    assert not [thread for thread in threading.enumerate() if thread.name.startswith("watch serviceaccounts")]


class NeverEndingWatchServer:
    """An API server that lists nothing and then keeps each watch open forever, with a bookmark every
    0.2 s: what a watch looks like from the client when the API server's end of it is lost but something
    (a proxy, a half-dead node) still trickles bytes. Only the client's own deadline can end it."""

    def __init__(self) -> None:
        self.watches = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            while not self._stopped.is_set():
                request = b""
                while b"\r\n\r\n" not in request:
                    received = connection.recv(4096)
                    if not received:
                        return
                    request += received
                if b"watch=true" not in request.split(b"\r\n", 1)[0]:
                    body = b'{"kind":"ServiceAccountList","metadata":{"resourceVersion":"7"},"items":[]}'
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
                    continue
                self.watches += 1
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
                bookmark = b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}\n'
                with contextlib.suppress(OSError):
                    while not self._stopped.wait(0.2):
                        connection.sendall(b"%x\r\n%s\r\n" % (len(bookmark), bookmark))
                return


def test_a_watch_that_never_ends_is_cut_at_its_deadline_and_resumed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(list_watch, "_WATCH_SECONDS", (1, 1))
    monkeypatch.setattr(list_watch, "_WATCH_READ_GRACE", 1.0)
    server = NeverEndingWatchServer()
    directory = WatchedServiceAccounts(
        api_client=api_client(server=server.url),
        annotation_prefix="eks.amazonaws.com",
        fallback_timeout=2.0,
        backoff=FAST_BACKOFF,
    )
    directory.start()
    try:
        eventually(lambda: server.watches >= 2, timeout=30, what="a second watch after the first was cut")
    finally:
        directory.stop()
        server.stop()

    assert "the watch was not ended 2s after it began" in caplog.text
