"""Pods that really run on the node: the probe as their program, the SDK mounted in, and their report.

Each pod runs `probe.py` once (restartPolicy Never) and its log is the report: reading it goes through the
API server to the kubelet, as `kubectl logs` does. The pod itself adds what any pod here needs and the
webhook does not: STS on loopback, EC2 metadata off, no shared config files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.apiserver.cluster import Cluster, Json, eventually, unique_name
from tests.apiserver.node import probe
from tests.apiserver.node.images import PYTHON_IMAGE

ACCOUNT_ID = "111122223333"
REGION = "us-west-2"
"""The node webhook's --aws-default-region."""
MakeRole = Callable[..., str]
"""make_role(name, *trust-policy arguments) -> the new role's ARN."""
SDK_MOUNT = "/opt/aws-sdk"
POD_LIMIT_SECONDS = 240.0
"""A bound, not a measurement: a probe pod finishes in a few seconds on a quiet machine."""
NON_ROOT = {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "runAsNonRoot": True}
"""An application's usual security context: the token must be readable through fsGroup alone."""


@dataclass(frozen=True)
class Ran:
    """A probe pod as the API server stored it, and what it reported from inside."""

    stored: Json
    report: Json

    @property
    def environment(self) -> dict[str, str]:
        variables: dict[str, str] = self.report["environment"]
        return variables

    def environment_lines(self) -> str:
        """As `env` prints it, for tests/e2e/pod_assertions.py."""
        return "".join(f"{name}={value}\n" for name, value in self.environment.items())

    def token(self, variable: str) -> str:
        """The token read, as the container's user, from the file `variable` names."""
        read = self.report["tokens"].get(variable)
        assert read is not None, f"{variable} is not set in the pod"
        assert "token" in read, f"the pod could not read {read['path']}: {read.get('error')}"
        token: str = read["token"]
        return token

    @property
    def credentials(self) -> dict[str, Any]:
        found: dict[str, Any] = self.report["credentials"]
        return found


@dataclass(frozen=True)
class PodRunner:
    cluster: Cluster
    node_name: str
    sdk: Path
    sts_url: str

    def manifest(
        self,
        *,
        service_account: str,
        annotations: Mapping[str, str] | None = None,
        security_context: Mapping[str, Any] | None = None,
    ) -> Json:
        """A pod bound to the node by name, which runs the probe once."""
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": unique_name("probe"), "annotations": dict(annotations or {})},
            "spec": {
                **self._spec(service_account, security_context, command=()),
                "nodeName": self.node_name,
                "restartPolicy": "Never",
            },
        }

    def deployment(self, name: str, *, service_account: str) -> Json:
        """A Deployment of one replica whose probe stays up: its pod is named by the ReplicaSet and placed
        by the scheduler, as in production."""
        labels = {"app": name}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": self._spec(service_account, None, command=("--then-wait",)),
                },
            },
        }

    def _spec(
        self, service_account: str, security_context: Mapping[str, Any] | None, *, command: tuple[str, ...]
    ) -> Json:
        return {
            "serviceAccountName": service_account,
            "hostNetwork": True,
            # No controller manager publishes kube-root-ca.crt, which the default API volume needs.
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": dict(NON_ROOT if security_context is None else security_context),
            "containers": [
                {
                    "name": "app",
                    "image": PYTHON_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", Path(probe.__file__).read_text(), *command],
                    "env": [
                        {"name": "PYTHONPATH", "value": SDK_MOUNT},
                        {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
                        {"name": "AWS_ENDPOINT_URL_STS", "value": self.sts_url},
                        {"name": "AWS_CONFIG_FILE", "value": "/dev/null"},
                        {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/dev/null"},
                    ],
                    "volumeMounts": [{"name": "aws-sdk", "mountPath": SDK_MOUNT, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "aws-sdk", "hostPath": {"path": str(self.sdk), "type": "Directory"}}],
        }

    def start(self, namespace: str, manifest: Json) -> Json:
        return self.cluster.create_pod(namespace, manifest)

    def result(self, stored: Json) -> Ran:
        """Wait for the pod to finish, then read its report from its log."""
        namespace, name = stored["metadata"]["namespace"], stored["metadata"]["name"]
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"

        def finished() -> Json:
            current = self.cluster.get(path)
            phase = current["status"].get("phase")
            assert phase in ("Succeeded", "Failed"), f"pod {name} is {phase}: {current['status']}"
            return current

        final = eventually(finished, limit=POD_LIMIT_SECONDS, interval=0.5)
        log = self._log(path)
        assert final["status"]["phase"] == "Succeeded" and probe.MARKER in log, f"pod {name} failed:\n{log}"
        return Ran(stored=stored, report=_report(log))

    def deployed(self, namespace: str, deployment: Json) -> Ran:
        """Create the Deployment, wait for its pod to report, and give that pod as the API server stored it."""
        self.cluster.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())

        def reported() -> Ran:
            listed = self.cluster.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
            assert listed["items"], f"no pod of deployment {deployment['metadata']['name']} yet"
            return self.report_of_running(listed["items"][0])

        return eventually(reported, limit=POD_LIMIT_SECONDS, interval=0.5)

    def report_of_running(self, current: Json) -> Ran:
        """The report of a probe that stays up (`--then-wait`); AssertionError until it is running and has
        reported, for `eventually`."""
        assert current["status"].get("phase") == "Running", f"pod is {current['status'].get('phase')}"
        log = self._log(
            f"/api/v1/namespaces/{current['metadata']['namespace']}/pods/{current['metadata']['name']}"
        )
        assert probe.MARKER in log, "no report yet"
        return Ran(stored=current, report=_report(log))

    def _log(self, pod_path: str) -> str:
        log = self.cluster.request("GET", f"{pod_path}/log", params={"container": "app"})
        assert log.status_code == 200, f"log of {pod_path}: {log.status_code} {log.text}"
        return log.text


def _report(log: str) -> Json:
    lines = [line for line in log.splitlines() if line.startswith(probe.MARKER)]
    report: Json = json.loads(lines[-1].removeprefix(probe.MARKER))
    return report
