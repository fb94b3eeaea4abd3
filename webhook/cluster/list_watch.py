"""List, then watch, one Kubernetes collection from a background thread: a small client-go reflector.

The official `kubernetes` client is synchronous, so the loop runs in a daemon thread and hands every change
to callbacks. What it guarantees, and the reasons:
- the list is read in pages and handed over as one iterable with the list's resourceVersion (`on_replace`),
  so a large cluster never sits in memory as a whole and a failed list changes nothing;
- the watch resumes from the last resourceVersion seen, events and bookmarks alike, so a dropped connection
  loses no event;
- a 410 Gone (the API server no longer has that history) is answered by listing again, which also catches
  deletions that happened while disconnected;
- any other failure reconnects after an exponential backoff with jitter (so replicas do not stampede a
  recovering API server), and each reconnect is logged; failures are also counted by the watch's name
  (WATCH_FAILURES), since the cache keeps answering from its last state and nothing else shows it is stale.

Responses are decoded with msgspec into the few fields the caller declares (`item_type`), never into the
client's model classes: a list of 100,000 ServiceAccounts would otherwise cost hundreds of megabytes.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from webhook.metrics import WATCH_FAILURES

logger = logging.getLogger("webhook.list_watch")

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

_LIST_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds for one page of a list."""
_WATCH_SECONDS = (300, 600)
"""The API server ends each watch after a random time in this range, as client-go asks, so watches of many
replicas do not all reconnect at once."""
_WATCH_READ_GRACE = 60.0
"""A watch silent this long past its own timeout is a dead connection."""


class ObjectMeta(msgspec.Struct, frozen=True):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""  # noqa: N815 - Kubernetes field name
    annotations: dict[str, str] | None = None


class KubeObject(msgspec.Struct, frozen=True):
    """Any object, reduced to its metadata: all a ServiceAccount is to the webhook."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


class _ListMeta(msgspec.Struct, frozen=True):
    resourceVersion: str = ""  # noqa: N815
    continue_: str = msgspec.field(default="", name="continue")


class _Page(msgspec.Struct, frozen=True):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[msgspec.Raw] | None = None


class _Event(msgspec.Struct, frozen=True):
    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
    object: msgspec.Raw


class _Status(msgspec.Struct, frozen=True):
    code: int = 0
    reason: str = ""
    message: str = ""


_status_decoder = msgspec.json.Decoder(_Status)


class _ResourceExpiredError(Exception):
    """The watch asked for history the API server has compacted away (410 Gone)."""


class _WatchError(Exception):
    """A watch that failed without an API error to say so: an ERROR event in its stream, or no end by the
    time it was asked to end."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Delays between reconnects: doubling from `initial` up to `cap`, each drawn from its upper half."""

    initial: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap, self.initial * 2 ** min(failures - 1, 32))
        return random.uniform(ceiling / 2, ceiling)


T = TypeVar("T", bound=KubeObject)


class ListWatch(Generic[T]):
    """Keeps callbacks in step with one collection, from `start()` until `stop()`.

    `list_call` is a list function of the official client's API classes, with the collection's fixed
    arguments (namespace, fieldSelector) bound: `CoreV1Api(client).list_service_account_for_all_namespaces`.
    The callbacks run on the watch thread, one at a time. `name` labels its failures in WATCH_FAILURES.
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        list_call: Callable[..., Any],
        item_type: type[T],
        on_replace: Callable[[Iterable[T], str], None],
        on_event: Callable[[EventType, T], None],
        backoff: Backoff | None = None,
        page_size: int = 500,
    ) -> None:
        self._description = description
        self._failures = WATCH_FAILURES.labels(watch=name)
        self._list_call = list_call
        self._item_decoder = msgspec.json.Decoder(item_type)
        self._page_decoder = msgspec.json.Decoder(_Page)
        self._event_decoder = msgspec.json.Decoder(_Event)
        self._on_replace = on_replace
        self._on_event = on_event
        self._backoff = backoff or Backoff()
        self._page_size = page_size
        self._resource_version: str | None = None
        self._delivered = 0
        self._synced = False
        self._stopping = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch {description}", daemon=True)

    @property
    def synced(self) -> bool:
        """True once the first list has been handed to `on_replace`; stays true while reconnecting."""
        return self._synced

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        """End the loop: wake it from a blocking watch read or a backoff sleep, and wait for it."""
        self._stopping.set()
        response = self._response
        if response is not None:
            _cut(response)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            delivered = self._delivered
            level, outcome = logging.DEBUG, "the API server ended the watch"
            try:
                if self._resource_version is None:
                    self._relist()
                self._watch()
            except Exception as error:
                if self._stopping.is_set():
                    return
                if isinstance(error, _ResourceExpiredError) or (
                    isinstance(error, ApiException) and error.status == 410
                ):
                    expired = (
                        f"resourceVersion {self._resource_version}" if self._resource_version else "the list"
                    )
                    level, outcome = logging.INFO, f"{expired} has expired (410 Gone)"
                    self._resource_version = None
                else:
                    level, outcome = logging.WARNING, describe_api_error(error)
                    self._failures.inc()
            # A watch that delivered events was healthy: reconnect at once after a routine end or a 410, and
            # start the backoff over after a failure. Without events, every round backs off further, so a
            # server that keeps failing (or answers 410 right after each list) is not hammered.
            if self._delivered != delivered:
                failures = 0
            if level == logging.WARNING or self._delivered == delivered:
                failures += 1
            delay = self._backoff.delay(failures) if failures else 0.0
            logger.log(
                level,
                "%s: %s; reconnecting in %.1fs, %s",
                self._description,
                outcome,
                delay,
                f"resuming from resourceVersion {self._resource_version}"
                if self._resource_version
                else "listing",
            )
            self._stopping.wait(delay)

    def _relist(self) -> None:
        # Every page of a list comes from one snapshot, at the first page's resourceVersion, so the callback
        # learns the version before the items; reading the first page first keeps "a failed list changes
        # nothing" for a list that fails at once.
        first = self._list_page(None)
        version = first.metadata.resourceVersion

        def items() -> Iterator[T]:
            page = first
            while True:
                for raw in page.items or ():
                    yield self._item_decoder.decode(raw)
                if not page.metadata.continue_:
                    return
                page = self._list_page(page.metadata.continue_)

        self._on_replace(items(), version)
        self._resource_version = version
        if not self._synced:
            logger.info("%s: listed; watching from resourceVersion %s", self._description, version)
        self._synced = True

    def _list_page(self, token: str | None) -> _Page:
        response = self._list_call(
            limit=self._page_size, _continue=token, _preload_content=False, _request_timeout=_LIST_TIMEOUT
        )
        try:
            return self._page_decoder.decode(response.data)
        finally:
            response.release_conn()

    def _watch(self) -> None:
        seconds = random.randint(*_WATCH_SECONDS)
        deadline_seconds = seconds + _WATCH_READ_GRACE
        response = self._list_call(
            watch=True,
            resource_version=self._resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=seconds,
            _preload_content=False,
            _request_timeout=(_LIST_TIMEOUT[0], deadline_seconds),
        )
        self._response = response
        # The read timeout restarts with every byte, so a connection that died after an event (a lost API
        # server node, no FIN) would go unnoticed for up to twice the watch's length: cut it at its deadline.
        overdue = threading.Event()
        deadline = threading.Timer(deadline_seconds, _cut, args=(response, overdue))
        deadline.daemon = True
        deadline.start()
        try:
            if self._stopping.is_set():
                return
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                self._handle(self._event_decoder.decode(line))
        except Exception:
            if not overdue.is_set():
                raise
        finally:
            deadline.cancel()
            self._response = None
            response.close()
            response.release_conn()
        if overdue.is_set():
            raise _WatchError(f"the watch was not ended {deadline_seconds:.0f}s after it began, as asked")

    def _handle(self, event: _Event) -> None:
        if event.type == "ERROR":
            status = _status_decoder.decode(event.object)
            if status.code == 410:
                raise _ResourceExpiredError(status.message)
            raise _WatchError(
                f"the API server sent an error: {status.code} {status.reason}: {status.message}"
            )
        item = self._item_decoder.decode(event.object)
        if event.type != "BOOKMARK":
            self._on_event(event.type, item)
        if item.metadata.resourceVersion:
            self._resource_version = item.metadata.resourceVersion
        self._delivered += 1


def describe_api_error(error: Exception) -> str:
    """One line an operator can act on, with the API server's own message when it sent one."""
    if isinstance(error, _WatchError):
        return str(error)
    if isinstance(error, ApiException):
        message = error.reason or ""
        with contextlib.suppress(msgspec.DecodeError, TypeError):
            message = _status_decoder.decode(error.body or b"").message or message
        return f"the API server answered {error.status}: {message}"
    return f"{type(error).__name__}: {error}"


def _cut(response: Any, overdue: threading.Event | None = None) -> None:
    """Wake a thread blocked reading `response`; the watch may end on its own between a read and this."""
    if overdue is not None:
        overdue.set()
    with contextlib.suppress(ValueError, RuntimeError, OSError):
        response.shutdown()
