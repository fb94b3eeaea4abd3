"""ServiceAccounts read from local files (`--service-account-file`), for running without a cluster.

Accepts what operators already have: manifests (multi-document YAML), `kubectl get serviceaccounts -A -o yaml`
output (a `List`), a `ServiceAccountList`, JSON, or a directory of such files (`*.yaml`, `*.yml`, `*.json`,
hidden files skipped, so a mounted ConfigMap's `..data` entries are not read twice). Documents of other kinds
are skipped, so a whole application manifest can be pointed at. A ServiceAccount without a namespace is in
`default`, as `kubectl apply` would put it; when one appears twice, the later one wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from webhook.cluster import yaml_documents
from webhook.cluster.serviceaccount_cache import ServiceAccountCache
from webhook.engine import go_json
from webhook.errors import ServiceAccountSourceError

logger = logging.getLogger("webhook.serviceaccount_file")

_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
_LIST_KINDS = frozenset({"List", "ServiceAccountList"})

ServiceAccountAnnotations = dict[tuple[str, str], Mapping[str, str]]


def load_service_account_annotations(
    path: Path, *, prefix: str | None, default_namespace: str = "default"
) -> ServiceAccountAnnotations:
    """(namespace, name) → the `<prefix>/...` annotations of each ServiceAccount in a file or directory;
    every annotation with `prefix=None`, so `explain` can spot one written under a misspelt prefix. A
    ServiceAccount that names no namespace is in `default_namespace`, as `kubectl apply -n` would put it.

    Raises ServiceAccountSourceError naming the file and the document (counted from 1) at fault.
    """
    wanted = f"{prefix}/" if prefix is not None else ""
    found: ServiceAccountAnnotations = {}
    for file in _files(path):
        for where, service_account in _service_accounts(file):
            namespace, name, annotations = _read(
                service_account, where=where, default_namespace=default_namespace
            )
            found[(namespace, name)] = {
                key: value for key, value in annotations.items() if key.startswith(wanted)
            }
    return found


class FileServiceAccounts:
    """A `ServiceAccountDirectory` over a set read once: synced from the start, nothing to ask on a miss."""

    def __init__(self, *, path: Path, annotation_prefix: str) -> None:
        loaded = load_service_account_annotations(path, prefix=annotation_prefix)
        self._cache = ServiceAccountCache(annotation_prefix=annotation_prefix)
        self._cache.replace_all(
            (namespace, name, annotations) for (namespace, name), annotations in loaded.items()
        )
        logger.info("loaded %d ServiceAccounts from %s", len(loaded), path)

    @property
    def synced(self) -> bool:
        return self._cache.synced

    def cached(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self._cache.get(namespace, name)

    def contents(self) -> list[tuple[str, str, Mapping[str, str]]]:
        return self._cache.contents()

    async def fetch(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return None

    def start(self) -> None:
        """Nothing to follow: the files were read when this was made."""

    def stop(self) -> None:
        """Nothing to stop."""


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            entry
            for entry in path.iterdir()
            if entry.suffix in _SUFFIXES and not entry.name.startswith(".") and entry.is_file()
        )
    if not path.exists():
        raise ServiceAccountSourceError(f"{path}: no such file or directory")
    return [path]


def _service_accounts(file: Path) -> Iterator[tuple[str, Any]]:
    """(where, object) for every ServiceAccount in the file, `where` naming it for error messages."""
    for index, document in _documents(file):
        where = f"{file}, document {index}"
        kind = document.get("kind") if isinstance(document, dict) else None
        if not kind:
            raise ServiceAccountSourceError(f"{where}: not a Kubernetes object (no kind)")
        if kind == "ServiceAccount":
            yield where, document
        elif kind in _LIST_KINDS:
            items = document.get("items") or []
            if not isinstance(items, list):
                raise ServiceAccountSourceError(f"{where}: items must be a list")
            for number, item in enumerate(items, start=1):
                item_kind = item.get("kind", "ServiceAccount") if isinstance(item, dict) else None
                if item_kind == "ServiceAccount":
                    yield f"{where}, item {number}", item
                elif item_kind is None:
                    raise ServiceAccountSourceError(f"{where}, item {number}: not a Kubernetes object")


def _documents(file: Path) -> Iterator[tuple[int, Any]]:
    """(number from 1, parsed document) for each non-empty document."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ServiceAccountSourceError(f"{file}: cannot be read: {error}") from error
    if file.suffix == ".json":
        try:
            documents = [go_json.parse(text)]
        except ValueError as error:
            raise ServiceAccountSourceError(f"{file}: not valid JSON: {error}") from error
    else:
        try:
            documents = yaml_documents.load_all(text)
        except ValueError as error:
            raise ServiceAccountSourceError(f"{file}, {error}") from error
    for index, document in enumerate(documents, start=1):
        if document is not None:
            yield index, document


def _read(service_account: Any, *, where: str, default_namespace: str) -> tuple[str, str, dict[str, str]]:
    metadata = service_account.get("metadata")
    if not isinstance(metadata, dict):
        raise ServiceAccountSourceError(f"{where}: a ServiceAccount needs metadata")
    name = metadata.get("name")
    namespace = metadata.get("namespace") or default_namespace
    if not isinstance(name, str) or not name:
        raise ServiceAccountSourceError(f"{where}: a ServiceAccount needs metadata.name")
    if not isinstance(namespace, str):
        raise ServiceAccountSourceError(f"{where}: metadata.namespace must be a string")
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ServiceAccountSourceError(f"{where}: metadata.annotations must be a mapping")
    for key, value in annotations.items():
        if not isinstance(key, str):
            raise ServiceAccountSourceError(
                f'{where}: annotation name {key!r} must be a string, as in Kubernetes (quote it: "{key}")'
            )
        if not isinstance(value, str):
            raise ServiceAccountSourceError(
                f'{where}: annotation {key} must be a string, as in Kubernetes (quote it: {key}: "{value}")'
            )
    return namespace, name, annotations
