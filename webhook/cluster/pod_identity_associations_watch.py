"""`--watch-container-credentials-config FILE`: the Pod Identity associations, re-read when the file changes.

The file is usually a mounted ConfigMap, which the kubelet updates by writing a new timestamped directory and
renaming the `..data` symlink onto it: the file's own path never changes, and inotify on it sees nothing.
So this polls `os.stat` of the path, which follows the symlinks, about once a second, and re-reads when the
inode, device, modification time or size differ. The file is tiny, so the poll costs nothing measurable.

A missing or bad file at start stops the webhook (the operator asked for it). Later, a bad, vanished or empty
file keeps the previous associations in force and is logged once per change, because dropping them would
switch running workloads' new pods from Pod Identity to no credentials. Empty counts as bad only later: a file
rewritten in place is empty between the truncation and the write, and the poll can land in between.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from webhook.cluster.identity_sources import IdentitySources
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.errors import ConfigurationError
from webhook.metrics import CONFIG_RELOADS

logger = logging.getLogger("webhook.pod_identity_associations_watch")

_METRIC_SOURCE = "pod-identity-associations"

_Fingerprint = tuple[int, int, int, int]


def _fingerprint(path: Path) -> _Fingerprint:
    status = os.stat(path)
    return (status.st_ino, status.st_dev, status.st_mtime_ns, status.st_size)


class PodIdentityAssociationsWatch:
    """Keeps `sources.pod_identities` equal to the file, from construction (loaded) until `stop()`."""

    def __init__(self, *, path: Path, sources: IdentitySources, interval: float = 1.0) -> None:
        self._path = path
        self._sources = sources
        self._interval = interval
        try:
            self._seen: _Fingerprint | str = _fingerprint(path)
            self._text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(
                f"--watch-container-credentials-config {path}: cannot be read: {error}"
            ) from error
        sources.pod_identities = PodIdentityAssociations.parse(self._text, source=str(path))
        logger.info("%s: %d Pod Identity associations", path, len(sources.pod_identities))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(self._interval + 5.0)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._poll()

    def _poll(self) -> None:
        try:
            seen = _fingerprint(self._path)
            if seen == self._seen:
                return
            text = self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            # The failure's text stands in for the fingerprint: one failure is logged once, not every second.
            if str(error) != self._seen:
                logger.error("%s: cannot be read, keeping the previous associations: %s", self._path, error)
                CONFIG_RELOADS.labels(source=_METRIC_SOURCE, result="error").inc()
            self._seen = str(error)
            return
        self._seen = seen
        if text != self._text:
            self._text = text
            self._apply(text)

    def _apply(self, text: str) -> None:
        try:
            if not text.strip():
                raise ConfigurationError(
                    f'{self._path}: empty (being rewritten?); {{"identities": []}} is how to list none'
                )
            associations = PodIdentityAssociations.parse(text, source=str(self._path))
        except ConfigurationError as error:
            logger.error(
                "keeping the previous %d Pod Identity associations: %s",
                len(self._sources.pod_identities),
                error,
            )
            CONFIG_RELOADS.labels(source=_METRIC_SOURCE, result="error").inc()
            return
        self._sources.pod_identities = associations
        logger.info("%s: reloaded, %d Pod Identity associations", self._path, len(associations))
        CONFIG_RELOADS.labels(source=_METRIC_SOURCE, result="success").inc()
