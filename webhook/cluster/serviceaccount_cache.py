"""The ServiceAccounts the webhook knows, reduced to what the mutation reads: the `<prefix>/...` annotations.

Every admission request looks its ServiceAccount up here, so a lookup is two dict reads and nothing else:
no lock, no copy, no allocation. Writers (the watch thread, the API fallback) take a lock among themselves;
readers never do, because each write is a single reference assignment the GIL makes atomic.

Memory is what limits a large cluster, so the cache keeps only the prefixed annotations (never whole
objects), stores namespaces as interned strings in a two-level dict (no per-entry key tuples), and gives
every ServiceAccount with the same annotations the same immutable mapping: ServiceAccounts without any share
one empty mapping, and a role used by many ServiceAccounts is stored once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from webhook.metrics import CACHE_MISSES, CACHE_SIZE

EMPTY_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})
"""What a cached ServiceAccount without prefixed annotations maps to; distinct from None ("not cached")."""

_AnnotationItems = tuple[tuple[str, str], ...]
_Namespaces = dict[str, dict[str, Mapping[str, str]]]
_SharedTable = dict[_AnnotationItems, Mapping[str, str]]

_MIN_SHARED_SWEEP = 1024
_MAX_REMEMBERED_DELETIONS = 1024


class ServiceAccountCache:
    """(namespace, name) → the ServiceAccount's `<prefix>/...` annotations, or None when it is not cached."""

    __slots__ = (
        "_deleted",
        "_listed",
        "_lock",
        "_namespaces",
        "_prefix",
        "_read",
        "_shared",
        "_size",
        "_sweep_at",
        "_synced",
    )

    def __init__(self, *, annotation_prefix: str) -> None:
        self._prefix = f"{annotation_prefix}/"
        self._lock = threading.Lock()
        self._namespaces: _Namespaces = {}
        # resourceVersions that order a direct read against the watch (see put_if_absent): of entries cached
        # from a read the watch has not reached yet, of recent deletions, and of the last full list, at which
        # everything it did not hold was absent. The dicts stay small: a list clears them.
        self._read: dict[tuple[str, str], int] = {}
        self._deleted: dict[tuple[str, str], int] = {}
        self._listed: int | None = None
        self._shared: _SharedTable = {}
        self._sweep_at = _MIN_SHARED_SWEEP
        self._size = 0
        self._synced = False

    @property
    def synced(self) -> bool:
        """True once a complete set of ServiceAccounts has been loaded (the first `replace_all`)."""
        return self._synced

    def __len__(self) -> int:
        return self._size

    def get(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The hot path: the cached annotations, or None (counted as a miss) when they are not cached."""
        names = self._namespaces.get(namespace)
        annotations = None if names is None else names.get(name)
        if annotations is None:
            CACHE_MISSES.inc()
        return annotations

    def contents(self) -> list[tuple[str, str, Mapping[str, str]]]:
        """Every cached (namespace, name, annotations), copied under the writers' lock so a write cannot
        change a dict while it is read; for `--enable-debugging-handlers`, never on the hot path."""
        with self._lock:
            return [
                (namespace, name, annotations)
                for namespace, names in self._namespaces.items()
                for name, annotations in names.items()
            ]

    def put(self, namespace: str, name: str, annotations: Mapping[str, str], *, version: str = "") -> None:
        """Store what the watch reported at resourceVersion `version`; of `annotations`, only the prefixed
        ones are kept. An event older than a direct read already cached is skipped: the watch catches up."""
        key = (namespace, name)
        with self._lock:
            read = self._read.get(key)
            if read is not None:
                reported = _number(version)
                if reported is not None and reported < read:
                    return
                del self._read[key]
            self._deleted.pop(key, None)
            self._store(namespace, name, self._share(annotations, self._shared))

    def put_if_absent(
        self, namespace: str, name: str, annotations: Mapping[str, str], *, version: str = ""
    ) -> Mapping[str, str]:
        """Store what a direct API read found at resourceVersion `version`, unless the watch already
        delivered this ServiceAccount (its copy may be newer than a read that raced with it) or reported it
        deleted since. Returns the annotations to use now: the cached ones, else those read."""
        key = (namespace, name)
        with self._lock:
            cached = self._namespaces.get(namespace, {}).get(name)
            if cached is not None:
                return cached
            shared = self._share(annotations, self._shared)
            read, absent_since = _number(version), self._deleted.get(key, self._listed)
            if read is not None and absent_since is not None and read <= absent_since:
                return shared
            self._store(namespace, name, shared)
            if read is not None:
                self._read[key] = read
            return shared

    def delete(self, namespace: str, name: str, *, version: str = "") -> None:
        key = (namespace, name)
        with self._lock:
            self._read.pop(key, None)
            deleted = _number(version)
            if deleted is not None:
                self._deleted[key] = deleted
                if len(self._deleted) > _MAX_REMEMBERED_DELETIONS:
                    del self._deleted[next(iter(self._deleted))]
            names = self._namespaces.get(namespace)
            if names is None or names.pop(name, None) is None:
                return
            if not names:
                del self._namespaces[namespace]
            self._size -= 1
            CACHE_SIZE.set(self._size)

    def replace_all(
        self, service_accounts: Iterable[tuple[str, str, Mapping[str, str]]], *, version: str = ""
    ) -> None:
        """Swap in a complete set (namespace, name, annotations), as a list read it at resourceVersion
        `version`; marks the cache synced.

        The iterable is consumed before anything changes, so it may fetch pages lazily (keeping only one page
        in memory), and an error while reading it leaves the previous contents in place.
        """
        namespaces: _Namespaces = {}
        shared: _SharedTable = {}
        for namespace, name, listed in service_accounts:
            names = namespaces.get(namespace)
            if names is None:
                names = namespaces[sys.intern(namespace)] = {}
            names[name] = self._share(listed, shared)
        size = sum(len(names) for names in namespaces.values())
        with self._lock:
            self._namespaces = namespaces
            self._read.clear()
            self._deleted.clear()
            self._listed = _number(version)
            self._shared = shared
            self._sweep_at = max(_MIN_SHARED_SWEEP, 2 * len(shared))
            self._size = size
            self._synced = True
            CACHE_SIZE.set(size)

    def _store(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        names = self._namespaces.get(namespace)
        if names is None:
            names = self._namespaces[sys.intern(namespace)] = {}
        if name not in names:
            self._size += 1
            CACHE_SIZE.set(self._size)
        names[name] = annotations
        if len(self._shared) > self._sweep_at:
            self._sweep_shared()

    def _share(self, annotations: Mapping[str, str], table: _SharedTable) -> Mapping[str, str]:
        """The one mapping holding exactly these prefixed annotations, made on first sight."""
        prefix = self._prefix
        items = tuple(
            sorted((sys.intern(key), value) for key, value in annotations.items() if key.startswith(prefix))
        )
        if not items:
            return EMPTY_ANNOTATIONS
        shared = table.get(items)
        if shared is None:
            shared = table[items] = MappingProxyType(dict(items))
        return shared

    def _sweep_shared(self) -> None:
        """Forget shared mappings no ServiceAccount uses any more, so churn cannot grow the table forever.

        Runs when the table has doubled since the last sweep, which keeps its cost constant per write.
        """
        live: _SharedTable = {}
        for names in self._namespaces.values():
            for mapping in names.values():
                if mapping is not EMPTY_ANNOTATIONS:
                    live[tuple(mapping.items())] = mapping
        self._shared = live
        self._sweep_at = max(_MIN_SHARED_SWEEP, 2 * len(live))


def _number(version: str) -> int | None:
    """A resourceVersion as a number, to order a direct read against the watch. They are opaque by contract
    but integers from etcd; None (no ordering, the watch wins as before) for any other kind."""
    return int(version) if version.isdigit() else None
