"""The two images the node runs, built on this machine and cached under .tools/images: nothing can be pulled.

The pause image is a static binary that waits and reaps children, which is all a pod sandbox needs. The pod
image is Debian's minimal root filesystem with python3 (debootstrap); the AWS SDK is not in it but mounted
read-only from `scripts/ensure-pod-sdk`, so a new SDK pin needs no new image. Each is written as a one-layer
OCI image layout archive, the format `ctr images import` loads.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PAUSE_SOURCE = r"""
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap(int signal_number) {
    (void)signal_number;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static void stop(int signal_number) {
    (void)signal_number;
    exit(0);
}

int main(void) {
    signal(SIGCHLD, reap);
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    for (;;) {
        pause();
    }
}
"""
PAUSE_IMAGE = "piw.test/pause:1"
PYTHON_IMAGE = "piw.test/python3:bookworm-1"
"""Names with a registry host, so containerd's CRI and the kubelet refer to them as given."""
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BUILD_LIMIT_SECONDS = 900.0
"""A bound for debootstrap over a slow mirror; about 30 s here."""


@dataclass(frozen=True)
class Image:
    name: str
    archive: Path


def ensure_images(cache: Path) -> list[Image]:
    """The pause and pod images' archives, built the first time only."""
    cache.mkdir(parents=True, exist_ok=True)
    pause = cache / "pause-1.oci.tar"
    if not pause.exists():
        _build(pause, name=PAUSE_IMAGE, populate=_pause_root, entrypoint=["/pause"])
    python = cache / f"python3-{DEBIAN_SUITE}-1.oci.tar"
    if not python.exists():
        _build(python, name=PYTHON_IMAGE, populate=_python_root, entrypoint=["/usr/bin/python3"])
    return [Image(PAUSE_IMAGE, pause), Image(PYTHON_IMAGE, python)]


def _pause_root(root: Path) -> None:
    source = root.parent / "pause.c"
    source.write_text(PAUSE_SOURCE)
    subprocess.run(
        ["gcc", "-static", "-Os", "-o", str(root / "pause"), str(source)],
        check=True,
        capture_output=True,
        timeout=BUILD_LIMIT_SECONDS,
    )


def _python_root(root: Path) -> None:
    subprocess.run(
        [
            "debootstrap", "--variant=minbase", "--include=python3", DEBIAN_SUITE, str(root), DEBIAN_MIRROR,
        ],
        check=True,
        capture_output=True,
        timeout=BUILD_LIMIT_SECONDS,
    )  # fmt: skip
    subprocess.run(
        ["rm", "-rf", str(root / "var/cache/apt/archives"), str(root / "var/lib/apt/lists")], check=True
    )


def _build(archive: Path, *, name: str, populate: Callable[[Path], None], entrypoint: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="piw-image-") as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        populate(root)
        layer = Path(scratch) / "layer.tar"
        # GNU tar keeps hard links, owners and modes as debootstrap made them; /dev, /proc and /sys are
        # provided by the runtime.
        subprocess.run(
            [
                "tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
                "-C", str(root), "-cf", str(layer), ".",
            ],
            check=True,
            timeout=BUILD_LIMIT_SECONDS,
        )  # fmt: skip
        partial = archive.with_suffix(".partial")
        _write_oci_archive(partial, name=name, layer=layer, entrypoint=entrypoint)
        partial.rename(archive)


def _write_oci_archive(archive: Path, *, name: str, layer: Path, entrypoint: list[str]) -> None:
    layer_digest = _file_digest(layer)
    config = _json_blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": entrypoint,
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    )
    manifest = _json_blob(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer.stat().st_size,
                }
            ],
        }
    )
    index = _json_blob(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": _digest(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rpartition(":")[2],
                    },
                }
            ],
        }
    )
    with tarfile.open(archive, "w") as out:
        _add_bytes(out, "oci-layout", _json_blob({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(out, "index.json", index)
        _add_bytes(out, _blob_path(_digest(manifest)), manifest)
        _add_bytes(out, _blob_path(_digest(config)), config)
        out.add(layer, arcname=_blob_path(layer_digest))


def _json_blob(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return f"sha256:{hashlib.file_digest(file, 'sha256').hexdigest()}"


def _blob_path(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
