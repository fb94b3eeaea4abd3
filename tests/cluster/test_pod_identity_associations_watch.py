"""`--watch-container-credentials-config`: the Pod Identity associations follow their file, ConfigMap volumes included."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.support import eventually, metric
from webhook.cluster.identity_sources import IdentitySources
from webhook.cluster.pod_identity_associations_watch import PodIdentityAssociationsWatch
from webhook.errors import ConfigurationError

FILE_NAME = "identities.json"


def identities(*pairs: tuple[str, str]) -> str:
    return json.dumps({"identities": [{"namespace": ns, "serviceAccount": sa} for ns, sa in pairs]})


class ConfigMapVolume:
    """A directory laid out and updated the way the kubelet's atomic writer does it for a ConfigMap volume:
    `<file> -> ..data/<file>`, `..data -> ..<timestamp>`, and an update writes a new timestamped directory,
    points `..data_tmp` at it, renames that over `..data`, and removes the old directory."""

    def __init__(self, root: Path, content: str) -> None:
        self.root = root
        self._generation = 0
        self._current = self._write(content)
        (root / "..data").symlink_to(self._current.name)
        (root / FILE_NAME).symlink_to(f"..data/{FILE_NAME}")

    @property
    def path(self) -> Path:
        return self.root / FILE_NAME

    def update(self, content: str) -> None:
        previous, self._current = self._current, self._write(content)
        (self.root / "..data_tmp").symlink_to(self._current.name)
        os.rename(self.root / "..data_tmp", self.root / "..data")
        shutil.rmtree(previous)

    def _write(self, content: str) -> Path:
        self._generation += 1
        directory = self.root / f"..2026_01_01_00_00_{self._generation:02d}.000000000"
        directory.mkdir()
        (directory / FILE_NAME).write_text(content)
        return directory


@pytest.fixture
def sources() -> IdentitySources:
    return IdentitySources()


@pytest.fixture
def volume(tmp_path: Path) -> ConfigMapVolume:
    return ConfigMapVolume(tmp_path, identities(("shop", "agent")))


@pytest.fixture
def watching(volume: ConfigMapVolume, sources: IdentitySources) -> Iterator[PodIdentityAssociationsWatch]:
    watch = PodIdentityAssociationsWatch(path=volume.path, sources=sources, interval=0.02)
    watch.start()
    yield watch
    watch.stop()


def reloads(result: str) -> float:
    return metric("config_reloads_total", source="pod-identity-associations", result=result)


def test_the_file_is_loaded_when_the_watch_is_made(volume: ConfigMapVolume, sources: IdentitySources) -> None:
    PodIdentityAssociationsWatch(path=volume.path, sources=sources)

    assert ("shop", "agent") in sources.pod_identities
    assert len(sources.pod_identities) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"missing\.json: cannot be read"),
        ('{"identities": [{"namespace": "x"}]}', r"identities\[0\] needs"),
    ],
)
def test_a_missing_or_bad_file_at_start_is_a_configuration_error(
    tmp_path: Path, sources: IdentitySources, content: str | None, message: str
) -> None:
    path = tmp_path / "missing.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ConfigurationError, match=message):
        PodIdentityAssociationsWatch(path=path, sources=sources)


def test_a_configmap_volume_update_is_picked_up(
    volume: ConfigMapVolume, sources: IdentitySources, watching: PodIdentityAssociationsWatch
) -> None:
    successes_before = reloads("success")

    volume.update(identities(("shop", "agent"), ("billing", "worker")))

    eventually(lambda: ("billing", "worker") in sources.pod_identities, what="the swapped ..data symlink")
    # The watcher counts the reload just after it installs the new set: wait for the count, then check it is one.
    eventually(lambda: reloads("success") > successes_before, what="the reload to be counted")
    assert reloads("success") - successes_before == 1


def test_a_plain_file_rewritten_in_place_is_picked_up(tmp_path: Path, sources: IdentitySources) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(identities(("shop", "agent")))
    watch = PodIdentityAssociationsWatch(path=path, sources=sources, interval=0.02)
    watch.start()
    try:
        path.write_text(identities(("billing", "worker-with-a-longer-name")))
        eventually(
            lambda: ("billing", "worker-with-a-longer-name") in sources.pod_identities, what="the rewrite"
        )
        assert ("shop", "agent") not in sources.pod_identities
    finally:
        watch.stop()


def test_a_bad_update_keeps_the_previous_associations_until_fixed(
    volume: ConfigMapVolume,
    sources: IdentitySources,
    watching: PodIdentityAssociationsWatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors_before = reloads("error")

    volume.update('{"identities": "not a list"}')
    eventually(lambda: reloads("error") > errors_before, what="the bad file to be noticed")
    assert ("shop", "agent") in sources.pod_identities
    assert "keeping the previous 1 Pod Identity associations" in caplog.text

    volume.update(identities(("billing", "worker")))
    eventually(lambda: ("billing", "worker") in sources.pod_identities, what="the fixed file")
    assert reloads("error") - errors_before == 1, "one bad file is reported once, not on every poll"


def test_a_vanished_file_keeps_the_previous_associations(
    volume: ConfigMapVolume, sources: IdentitySources, watching: PodIdentityAssociationsWatch
) -> None:
    errors_before = reloads("error")

    (volume.root / "..data").unlink()

    eventually(lambda: reloads("error") > errors_before, what="the missing file to be noticed")
    assert ("shop", "agent") in sources.pod_identities


def test_a_file_emptied_by_an_in_place_rewrite_keeps_the_previous_associations(
    tmp_path: Path, sources: IdentitySources
) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(identities(("shop", "agent")))
    watch = PodIdentityAssociationsWatch(path=path, sources=sources, interval=0.02)
    errors_before = reloads("error")
    watch.start()
    try:
        path.write_text("")
        eventually(lambda: reloads("error") > errors_before, what="the empty file to be noticed")
        assert ("shop", "agent") in sources.pod_identities

        path.write_text(identities(("billing", "worker")))
        eventually(lambda: ("billing", "worker") in sources.pod_identities, what="the written file")
    finally:
        watch.stop()


def test_an_emptied_list_is_how_to_remove_every_association(
    volume: ConfigMapVolume, sources: IdentitySources, watching: PodIdentityAssociationsWatch
) -> None:
    volume.update('{"identities": []}')

    eventually(lambda: len(sources.pod_identities) == 0, what="the empty list")


def test_stop_waits_for_the_poll_thread_and_is_safe_before_start(
    volume: ConfigMapVolume, sources: IdentitySources
) -> None:
    never_started = PodIdentityAssociationsWatch(path=volume.path, sources=sources, interval=0.02)
    never_started.stop()

    started = PodIdentityAssociationsWatch(path=volume.path, sources=sources, interval=0.02)
    started.start()
    started.stop()

    assert not any(thread.name == f"watch {volume.path}" for thread in threading.enumerate())
