"""The chart as `helm template` renders it, and the pieces of the output the tests look at."""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

RELEASE = "piw"
NAMESPACE = "identity-system"
FULLNAME = "piw-pod-identity-webhook"

Json = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """Every object one `helm template` produced."""

    objects: tuple[Json, ...]

    def of_kind(self, kind: str) -> list[Json]:
        return [item for item in self.objects if item["kind"] == kind]

    def one(self, kind: str) -> Json:
        (found,) = self.of_kind(kind)
        return found

    @property
    def kinds(self) -> set[str]:
        return {item["kind"] for item in self.objects}

    @property
    def webhook(self) -> Json:
        """The single webhook entry of the MutatingWebhookConfiguration."""
        (entry,) = self.one("MutatingWebhookConfiguration")["webhooks"]
        found: Json = entry
        return found

    @property
    def pod_spec(self) -> Json:
        spec: Json = self.one("Deployment")["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> Json:
        (container,) = self.pod_spec["containers"]
        found: Json = container
        return found

    @property
    def args(self) -> list[str]:
        return list(self.container["args"])

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` in the server's arguments, "" for a bare flag, None when absent."""
        for arg in self.args:
            if arg == name:
                return ""
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
        return None

    def rbac_rules(self) -> list[tuple[str, Json]]:
        """(kind of role, rule) for every rule of every Role and ClusterRole."""
        return [
            (role["kind"], rule)
            for role in self.of_kind("ClusterRole") + self.of_kind("Role")
            for rule in role.get("rules", [])
        ]

    def rules_for(self, resource: str) -> list[tuple[str, Json]]:
        return [(kind, rule) for kind, rule in self.rbac_rules() if resource in rule["resources"]]


@dataclass(frozen=True)
class Chart:
    helm: str
    path: Path

    def render(self, values: Mapping[str, Any] | None = None, *, namespace: str = NAMESPACE) -> Rendered:
        completed = _template(self.helm, self.path, json.dumps(values or {}, sort_keys=True), namespace)
        if completed.returncode != 0:
            raise AssertionError(f"helm template failed:\n{completed.stderr}")
        documents = yaml.safe_load_all(completed.stdout)
        return Rendered(objects=tuple(item for item in documents if item))

    def rejection(self, values: Mapping[str, Any]) -> str:
        """What helm says when it refuses to render `values`; fails the test if it renders them."""
        completed = _template(self.helm, self.path, json.dumps(values, sort_keys=True), NAMESPACE)
        if completed.returncode == 0:
            raise AssertionError(f"helm rendered values it should reject: {values}")
        return completed.stderr

    def lint(self, values: Mapping[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        with _values_file(json.dumps(values or {})) as values_path:
            return subprocess.run(
                [self.helm, "lint", "--strict", str(self.path), "--values", values_path],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )


@functools.cache
def _template(helm: str, path: Path, values_json: str, namespace: str) -> subprocess.CompletedProcess[str]:
    with _values_file(values_json) as values_path:
        return subprocess.run(
            [helm, "template", RELEASE, str(path), "--namespace", namespace, "--values", values_path],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )


@contextlib.contextmanager
def _values_file(values_json: str) -> Iterator[str]:
    """A values file helm can read (JSON is YAML), removed afterwards."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write(values_json)
        file.flush()
        yield file.name
