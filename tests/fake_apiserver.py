"""An in-test Kubernetes API server: a stand-in for kube-apiserver in tests, not a Kubernetes.

It serves plain HTTP on 127.0.0.1 and speaks the real JSON wire format of the REST API for any resource path
(`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced or cluster-scoped), so the official `kubernetes`
client talks to it unchanged through a kubeconfig (`write_kubeconfig`). It does what the webhook uses:
list (pages with limit/continue; the list's resourceVersion), watch (newline-delimited events from any
resourceVersion still in its history, bookmarks, 410 Gone when it is not), get (404 Status), create
(409 AlreadyExists), update (409 Conflict on a stale resourceVersion), patch (merge, strategic merge treated
as merge, JSON patch), delete, and fieldSelector on metadata.name and metadata.namespace. One counter gives
every change its resourceVersion, as etcd does. There is no validation, defaulting, admission or RBAC.

It serves the ServiceAccount issuer's discovery documents once `serve_issuer_discovery` is called (404
before, as a cluster without issuer discovery), with kube-apiserver's content negotiation: the JWKS only
to an Accept header that admits `application/jwk-set+json`, the discovery document only to one that admits
`application/json`, and 406 otherwise. A stand-in that answered whatever was asked once hid a client that
the real API server refused.

Test controls make a real cluster's trouble happen on demand: changes while watches are open (`apply`,
`remove`), a compacted history (`compact`), 410 Gone inside open watches (`expire_watches`), dropped
connections (`drop_watches`), watches ended with a bookmark (`end_watches`), errors (`fail_next`), requests
held until released, before or after they are served (`hold`), slow answers (`delays`), and every request recorded by verb, path and query
(`requests`, `count`).
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import jsonpatch
import pytest

Object = dict[str, Any]
Collection = tuple[str, str]
"""(group/version as in apiVersion, plural resource name)."""

_PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Namespace": "namespaces",
    "Pod": "pods",
    "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
}
_KINDS = {plural: kind for kind, plural in _PLURALS.items()}
_MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
FAKE_TOKEN = "fake-token"
"""The bearer token of every kubeconfig `write_kubeconfig` writes."""
ISSUER_DISCOVERY_PATH = "/.well-known/openid-configuration"
ISSUER_JWKS_PATH = "/openid/v1/jwks"
_ISSUER_MEDIA_TYPES = {
    ISSUER_DISCOVERY_PATH: "application/json",
    ISSUER_JWKS_PATH: "application/jwk-set+json",
}


class Request(NamedTuple):
    verb: str
    path: str
    query: dict[str, str]
    authorization: str | None = None


@dataclass(frozen=True)
class _Event:
    version: int
    collection: Collection
    type: str
    object: Object


@dataclass
class _Route:
    collection: Collection
    namespace: str | None
    name: str | None


def _route(path: str) -> _Route | None:
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group_version, rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 2:
        return None
    return _Route((group_version, rest[0]), namespace, rest[1] if len(rest) == 2 else None)


def _status(code: int, reason: str, message: str) -> Object:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


def _acceptable(accept: str, media_type: str) -> bool:
    """Whether kube-apiserver (go-restful) serves a route producing `media_type` to this Accept header: an
    empty header or `*/*` takes anything; otherwise one listed type, its parameters (q too) ignored, must
    equal `media_type` exactly. No `type/*` wildcards and no case folding, as the real server answers."""
    listed = [part.split(";", 1)[0].strip() for part in accept.split(",")]
    return not accept.strip() or "*/*" in listed or media_type in listed


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def write_kubeconfig(path: Path, *, server: str) -> Path:
    """A kubeconfig whose current context points at `server` (JSON, which is YAML too)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": FAKE_TOKEN}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
        "current-context": "fake",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@dataclass
class FakeApiServer:
    """Start with `start()` (or the `fake_apiserver` fixture); `url` is then its address."""

    delays: dict[str, float] = field(default_factory=dict)
    """Seconds to wait before answering, by verb (list, watch, get, create, update, patch, delete)."""
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        self._store: dict[Collection, dict[tuple[str, str], Object]] = {}
        self._history: list[_Event] = []
        self._version = 1000
        self._compacted = 0
        self._generations = {"expire": 0, "drop": 0, "end": 0}
        self._failures: dict[str, list[int]] = {}
        self._open_watches = 0
        self._pages: dict[str, tuple[int, list[Object]]] = {}
        self._gates: dict[str, threading.Event] = {}
        self._answer_gates: dict[str, threading.Event] = {}
        self.held_answers = 0
        self._connections: set[socket.socket] = set()
        self._closed = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._issuer_documents: dict[str, Object] = {}

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, args=(0.05,), name="fake-apiserver", daemon=True).start()

    def stop(self) -> None:
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def write_kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(path, server=self.url)

    # --- test controls -----------------------------------------------------------------------------------

    @property
    def open_watches(self) -> int:
        """Watches streaming now: a control aimed at open watches reaches exactly these."""
        return self._open_watches

    def apply(self, obj: Object) -> Object:
        """Create or replace an object, as `kubectl apply` would; open watches see ADDED or MODIFIED."""
        collection, key = self._locate(obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"),
                                       obj["metadata"]["name"])  # fmt: skip
        with self._changed:
            return self._commit(collection, key, obj)

    def remove(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        collection, key = self._locate(api_version, kind, namespace, name)
        with self._changed:
            self._delete(collection, key)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Object | None:
        collection, key = self._locate(api_version, kind, namespace, name)
        with self._changed:
            found = self._store.get(collection, {}).get(key)
            return copy.deepcopy(found)

    def serve_issuer_discovery(self, configuration: Object, jwks: Object) -> None:
        """Serve these documents at /.well-known/openid-configuration and /openid/v1/jwks, as kube-apiserver
        does from 1.20 (1.18 and 1.19 behind a feature gate)."""
        self._issuer_documents = {ISSUER_DISCOVERY_PATH: configuration, ISSUER_JWKS_PATH: jwks}

    def compact(self) -> None:
        """Forget the history so far, as etcd compaction does: watches from older versions get 410 Gone."""
        with self._changed:
            self._compacted = self._version
            self._history.clear()

    def expire_watches(self) -> None:
        """Compact, and end every open watch with an ERROR event carrying a 410 Status."""
        self.compact()
        self._signal("expire")

    def drop_watches(self) -> None:
        """Cut every open watch connection without ending its stream, like a crashed API server."""
        self._signal("drop")

    def end_watches(self) -> None:
        """End every open watch normally, as at its timeoutSeconds: a final BOOKMARK if asked for, then EOF."""
        self._signal("end")

    def fail_next(self, verb: str, code: int, *, times: int = 1) -> None:
        """Answer the next `times` requests of `verb` with an error Status of this HTTP code."""
        self._failures.setdefault(verb, []).extend([code] * times)

    @contextlib.contextmanager
    def hold(self, verb: str, *, answers: bool = False) -> Iterator[None]:
        """Requests of `verb` arriving inside this block wait (already recorded) until it ends. With
        `answers`, they are served at once and only their answers wait, like replies slow on the wire;
        `held_answers` counts the answers that have waited."""
        gates = self._answer_gates if answers else self._gates
        gate = gates[verb] = threading.Event()
        try:
            yield
        finally:
            del gates[verb]
            gate.set()

    def count(self, verb: str, path: str | None = None) -> int:
        return sum(
            1 for request in list(self.requests) if request.verb == verb and path in (None, request.path)
        )

    # --- the store ---------------------------------------------------------------------------------------

    @staticmethod
    def _locate(
        api_version: str, kind: str, namespace: str | None, name: str
    ) -> tuple[Collection, tuple[str, str]]:
        return (api_version, _PLURALS.get(kind, kind.lower() + "s")), (namespace or "", name)

    def _signal(self, what: str) -> None:
        with self._changed:
            self._generations[what] += 1
            self._changed.notify_all()

    def _commit(self, collection: Collection, key: tuple[str, str], obj: Object) -> Object:
        """Store a new version of an object and tell the watches; the caller holds the lock."""
        existing = self._store.setdefault(collection, {}).get(key)
        self._version += 1
        stored = copy.deepcopy(obj)
        metadata = stored.setdefault("metadata", {})
        metadata["resourceVersion"] = str(self._version)
        if key[0]:
            metadata["namespace"] = key[0]
        metadata["uid"] = existing["metadata"]["uid"] if existing else str(uuid.uuid4())
        metadata.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        stored.setdefault("apiVersion", collection[0])
        stored.setdefault("kind", _KINDS.get(collection[1], collection[1]))
        self._store[collection][key] = stored
        self._history.append(_Event(self._version, collection, "MODIFIED" if existing else "ADDED", stored))
        self._changed.notify_all()
        return stored

    def _delete(self, collection: Collection, key: tuple[str, str]) -> Object | None:
        stored = self._store.get(collection, {}).pop(key, None)
        if stored is not None:
            self._version += 1
            gone = {**stored, "metadata": {**stored["metadata"], "resourceVersion": str(self._version)}}
            self._history.append(_Event(self._version, collection, "DELETED", gone))
            self._changed.notify_all()
        return stored

    def _matching(self, route: _Route, selector: dict[str, str], obj: Object) -> bool:
        metadata = obj.get("metadata", {})
        wanted = {"metadata.namespace": route.namespace, **selector}
        return all(
            value is None or metadata.get(path.removeprefix("metadata."), "") == value
            for path, value in wanted.items()
        )


def _field_selector(text: str) -> dict[str, str]:
    selector = {}
    for term in filter(None, text.split(",")):
        path, _, value = term.replace("==", "=").partition("=")
        if path not in ("metadata.name", "metadata.namespace"):
            raise ValueError(f"field label not supported: {path}")
        selector[path] = value
    return selector


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeApiServer
    _answer_gate: threading.Event | None = None

    def setup(self) -> None:
        super().setup()
        self.fake = self.server.fake  # type: ignore[attr-defined]
        self.fake._connections.add(self.connection)

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client hung up, as clients may
            super().handle()

    def finish(self) -> None:
        self.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on `requests` instead."""

    def _dispatch(self) -> None:
        self._answer_gate = None
        method, url = self.command, urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path in _ISSUER_MEDIA_TYPES:
            self._issuer_document(url.path, query)
            return
        route = _route(url.path)
        if route is None:
            self._send(
                404, _status(404, "NotFound", f"the server could not find the requested resource {url.path}")
            )
            return
        watching = query.get("watch") in ("1", "true")
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method) or (
            "get" if route.name else "watch" if watching else "list"
        )
        if self._failed(verb, url.path, query):
            return
        try:
            selector = _field_selector(query.get("fieldSelector", ""))
            payload = json.loads(body) if body else None
        except ValueError as error:
            self._send(400, _status(400, "BadRequest", str(error)))
            return
        getattr(self, f"_{verb}")(route, query, selector, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815 - http.server calls do_<METHOD>

    def _failed(self, verb: str, path: str, query: dict[str, str]) -> bool:
        """Record the request, hold or delay it as the test asked, and answer an injected error if one is
        due (True: answered)."""
        self.fake.requests.append(Request(verb, path, query, self.headers.get("Authorization")))
        self._wait_at(self.fake._gates.get(verb))
        self._answer_gate = self.fake._answer_gates.get(verb)
        self.fake._closed.wait(self.fake.delays.get(verb, 0.0))
        with self.fake._changed:
            failures = self.fake._failures.get(verb)
            failure = failures.pop(0) if failures else None
        if failure is not None:
            self._send(
                failure, _status(failure, HTTPStatus(failure).phrase.replace(" ", ""), f"injected {failure}")
            )
        return failure is not None

    def _issuer_document(self, path: str, query: dict[str, str]) -> None:
        if self.command != "GET":
            self._send(405, _status(405, "MethodNotAllowed", f"{self.command} is not allowed on {path}"))
            return
        if self._failed("get", path, query):
            return
        document = self.fake._issuer_documents.get(path)
        if document is None:
            self._send(
                404, _status(404, "NotFound", f"the server could not find the requested resource {path}")
            )
        elif not _acceptable(self.headers.get("Accept", ""), _ISSUER_MEDIA_TYPES[path]):
            self._send(406, _status(406, "NotAcceptable", "406: Not Acceptable"))
        else:
            self._send(200, document, content_type=_ISSUER_MEDIA_TYPES[path])

    def _wait_at(self, gate: threading.Event | None) -> None:
        while gate is not None and not gate.wait(0.05) and not self.fake._closed.is_set():
            pass

    def _send(self, code: int, obj: Object, *, content_type: str = "application/json") -> None:
        data = json.dumps(obj).encode()
        if self._answer_gate is not None:
            with self.fake._changed:
                self.fake.held_answers += 1
            self._wait_at(self._answer_gate)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, route: _Route) -> None:
        self._send(404, _status(404, "NotFound", f'{route.collection[1]} "{route.name}" not found'))

    def _list(self, route: _Route, query: dict[str, str], selector: dict[str, str], _: Any) -> None:
        fake, token = self.fake, query.get("continue")
        with fake._changed:
            if token:
                if token not in fake._pages:
                    self._send(410, _status(410, "Expired", "the provided continue parameter is too old"))
                    return
                version, items = fake._pages.pop(token)
            else:
                version = fake._version
                found = fake._store.get(route.collection, {})
                items = [found[key] for key in sorted(found) if fake._matching(route, selector, found[key])]
            limit = int(query.get("limit") or 0) or len(items)
            page, rest = items[:limit], items[limit:]
            metadata: Object = {"resourceVersion": str(version)}
            if rest:
                metadata["continue"] = token = secrets.token_hex(8)
                metadata["remainingItemCount"] = len(rest)
                fake._pages[token] = (version, rest)
        kind = _KINDS.get(route.collection[1], "")
        self._send(
            200,
            {"kind": f"{kind}List", "apiVersion": route.collection[0], "metadata": metadata, "items": page},
        )

    def _watch(self, route: _Route, query: dict[str, str], selector: dict[str, str], _: Any) -> None:
        fake = self.fake
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        since = query.get("resourceVersion") or "0"
        with fake._changed:
            if since != "0" and int(since) < fake._compacted:
                gone = _status(410, "Expired", f"too old resource version: {since} ({fake._compacted})")
                self._send(410, gone)
                return
            cursor = fake._version if since == "0" else int(since)
            found = fake._store.get(route.collection, {})
            initial = [("ADDED", found[key]) for key in sorted(found) if since == "0"]
            seen = dict(fake._generations)
            fake._open_watches += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._stream(initial)
            while True:
                with fake._changed:
                    while (fake._version == cursor and seen == fake._generations and not fake._closed.is_set()
                           and time.monotonic() < deadline):  # fmt: skip
                        fake._changed.wait(0.5)
                    expired = cursor < fake._compacted or fake._generations["expire"] != seen["expire"]
                    start = bisect.bisect_right(fake._history, cursor, key=lambda event: event.version)
                    events = [
                        (event.type, event.object)
                        for event in fake._history[start:]
                        if event.collection == route.collection
                        and fake._matching(route, selector, event.object)
                    ]
                    cursor, previous, seen = fake._version, seen, dict(fake._generations)
                if seen["drop"] != previous["drop"]:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if expired:
                    self._stream([("ERROR", _status(410, "Expired", "too old resource version"))])
                    break
                self._stream(events)
                if seen["end"] != previous["end"] or fake._closed.is_set() or time.monotonic() >= deadline:
                    if bookmarks:  # as kube-apiserver does before it ends a watch: where to resume from
                        kind = _KINDS.get(route.collection[1], "")
                        marker = {"kind": kind, "apiVersion": route.collection[0],
                                  "metadata": {"resourceVersion": str(cursor)}}  # fmt: skip
                        self._stream([("BOOKMARK", marker)])
                    break
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            with fake._changed:
                fake._open_watches -= 1

    def _stream(self, events: list[tuple[str, Object]]) -> None:
        for kind, obj in events:
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()

    def _get(self, route: _Route, *_: Any) -> None:
        with self.fake._changed:
            found = self.fake._store.get(route.collection, {}).get((route.namespace or "", route.name or ""))
        if found is None:
            self._not_found(route)
        else:
            self._send(200, found)

    def _create(self, route: _Route, _query: Any, _selector: Any, obj: Object) -> None:
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
        key = (route.namespace or "", metadata.get("name", ""))
        with self.fake._changed:
            if key in self.fake._store.get(route.collection, {}):
                conflict = _status(409, "AlreadyExists", f'{route.collection[1]} "{key[1]}" already exists')
                self._send(409, conflict)
                return
            stored = self.fake._commit(route.collection, key, obj)
        self._send(201, stored)

    def _update(self, route: _Route, _query: Any, _selector: Any, obj: Object) -> None:
        self._replace(route, lambda _existing: obj)

    def _patch(self, route: _Route, _query: Any, _selector: Any, patch: Any) -> None:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/json-patch+json":
            self._replace(route, lambda existing: jsonpatch.apply_patch(existing, patch))
        elif content_type in _MERGE_PATCHES:
            self._replace(route, lambda existing: _merge(existing, patch))
        else:
            unknown = f"the body of the request was in an unknown format: {content_type}"
            self._send(415, _status(415, "UnsupportedMediaType", unknown))

    def _replace(self, route: _Route, change: Any) -> None:
        key = (route.namespace or "", route.name or "")
        with self.fake._changed:
            existing = self.fake._store.get(route.collection, {}).get(key)
            if existing is None:
                self._not_found(route)
                return
            try:
                changed = change(copy.deepcopy(existing))
            except jsonpatch.JsonPatchException as error:
                self._send(422, _status(422, "Invalid", str(error)))
                return
            sent_version = changed.get("metadata", {}).get("resourceVersion")
            if sent_version and sent_version != existing["metadata"]["resourceVersion"]:
                message = (
                    f'Operation cannot be fulfilled on {route.collection[1]} "{key[1]}": the object has been '
                    "modified; please apply your changes to the latest version and try again"
                )
                self._send(409, _status(409, "Conflict", message))
                return
            stored = self.fake._commit(route.collection, key, changed)
        self._send(200, stored)

    def _delete(self, route: _Route, *_: Any) -> None:
        with self.fake._changed:
            stored = self.fake._delete(route.collection, (route.namespace or "", route.name or ""))
        if stored is None:
            self._not_found(route)
        else:
            details = {"name": route.name, "kind": route.collection[1], "uid": stored["metadata"]["uid"]}
            self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                             "details": details})  # fmt: skip


@pytest.fixture(name="fake_apiserver")
def fake_apiserver_fixture() -> Iterator[FakeApiServer]:
    """A running fake API server; import this into a conftest.py to use the fixture `fake_apiserver`."""
    server = FakeApiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="fake_kubeconfig")
def fake_kubeconfig_fixture(fake_apiserver: FakeApiServer, tmp_path: Path) -> Path:
    """A kubeconfig for the running `fake_apiserver` (fixture `fake_kubeconfig`)."""
    return fake_apiserver.write_kubeconfig(tmp_path / "kubeconfig")
