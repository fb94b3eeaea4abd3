"""The AdmissionReviews the benchmark sends, built the way kube-apiserver sends them.

A pod created by a Deployment reaches a mutating webhook after the built-in admission plugins ran: defaults
are filled in, the ServiceAccount plugin has added the `kube-api-access-*` projected volume and its mounts,
the DefaultTolerationSeconds plugin its tolerations, and the ReplicaSet controller left `managedFields`.
It has `generateName` but no name, uid or creationTimestamp yet. The reviews are compact JSON, as sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE = "shop"
ROLE_SERVICE_ACCOUNT = "checkout"
NO_ROLE_SERVICE_ACCOUNT = "storefront"
ROLE_ARN = "arn:aws:iam::111122223333:role/shop-checkout"
AWS_REGION = "us-west-2"
"""Passed to the server as --aws-default-region, as on EKS, so region variables are injected too."""

TYPICAL = "typical"
LARGE = "large"
NO_ROLE = "no-role"
NAMES = (TYPICAL, LARGE, NO_ROLE)
DESCRIPTIONS = {
    TYPICAL: "Deployment pod: 2 containers, 1 init container, ServiceAccount with a role",
    LARGE: "40 containers, ServiceAccount with a role",
    NO_ROLE: "the typical pod, ServiceAccount without a role (nothing to do)",
}

_SERVICE_ACCOUNTS_YAML = f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {ROLE_SERVICE_ACCOUNT}
  namespace: {NAMESPACE}
  annotations:
    eks.amazonaws.com/role-arn: {ROLE_ARN}
    eks.amazonaws.com/sts-regional-endpoints: "true"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {NO_ROLE_SERVICE_ACCOUNT}
  namespace: {NAMESPACE}
  annotations:
    team.example.com/owner: storefront
"""

_TEMPLATE_HASH = "7d9c5b6f4"
_API_ACCESS_VOLUME = "kube-api-access-x7k2p"


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """Where the generated request bodies and the ServiceAccount file are."""

    bodies: dict[str, Path]
    service_accounts: Path

    def size(self, name: str) -> int:
        return self.bodies[name].stat().st_size


def write_inputs(directory: Path) -> Inputs:
    directory.mkdir(parents=True, exist_ok=True)
    reviews = {
        TYPICAL: admission_review(service_account=ROLE_SERVICE_ACCOUNT, containers=2, env_per_container=14),
        LARGE: admission_review(service_account=ROLE_SERVICE_ACCOUNT, containers=40, env_per_container=54),
        NO_ROLE: admission_review(
            service_account=NO_ROLE_SERVICE_ACCOUNT, containers=2, env_per_container=14
        ),
    }
    bodies = {}
    for name, review in reviews.items():
        bodies[name] = directory / f"{name}.json"
        bodies[name].write_bytes(json.dumps(review, separators=(",", ":")).encode())
    service_accounts = directory / "serviceaccounts.yaml"
    service_accounts.write_text(_SERVICE_ACCOUNTS_YAML)
    return Inputs(bodies=bodies, service_accounts=service_accounts)


def admission_review(*, service_account: str, containers: int, env_per_container: int) -> dict[str, Any]:
    app = "checkout" if service_account == ROLE_SERVICE_ACCOUNT else "storefront"
    pod_kind = {"group": "", "version": "v1", "kind": "Pod"}
    pod_resource = {"group": "", "version": "v1", "resource": "pods"}
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "0f5d3c1e-6a2b-4c8d-9e7f-1a2b3c4d5e6f",
            "kind": pod_kind,
            "resource": pod_resource,
            "requestKind": pod_kind,
            "requestResource": pod_resource,
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "5e1f0a4b-8c2d-4e6f-a1b3-c5d7e9f1a3b5",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": _pod(
                app=app,
                service_account=service_account,
                containers=containers,
                env_per_container=env_per_container,
            ),
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def _pod(*, app: str, service_account: str, containers: int, env_per_container: int) -> dict[str, Any]:
    names = [app] + [f"sidecar-{index}" for index in range(1, containers)]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "generateName": f"{app}-{_TEMPLATE_HASH}-",
            "namespace": NAMESPACE,
            "creationTimestamp": None,
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/part-of": "shop",
                "app.kubernetes.io/version": "2.14.1",
                "pod-template-hash": _TEMPLATE_HASH,
            },
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": "2024-05-02T09:14:27Z",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-{_TEMPLATE_HASH}",
                    "uid": "3b9e2f7a-1c4d-4a6b-8e0f-2d4c6a8b0e1f",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2024-05-02T09:14:28Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": _managed_fields(names),
                }
            ],
        },
        "spec": {
            "volumes": [
                {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
                {"name": "tmp", "emptyDir": {}},
                _api_access_volume(),
            ],
            "initContainers": [_init_container(app)],
            "containers": [
                _container(name, index=index, env_count=env_per_container) for index, name in enumerate(names)
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": service_account,
            "serviceAccount": service_account,
            "securityContext": {"runAsNonRoot": True, "fsGroup": 2000},
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
            "schedulerName": "default-scheduler",
            "tolerations": [
                {
                    "key": f"node.kubernetes.io/{taint}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for taint in ("not-ready", "unreachable")
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {},
    }


def _api_access_volume() -> dict[str, Any]:
    return {
        "name": _API_ACCESS_VOLUME,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }


def _api_access_mount() -> dict[str, Any]:
    return {
        "name": _API_ACCESS_VOLUME,
        "readOnly": True,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
    }


def _init_container(app: str) -> dict[str, Any]:
    return {
        "name": "migrate",
        "image": f"registry.example.com/shop/{app}:2.14.1",
        "command": ["/app/bin/migrate", "--wait-for-database", "--timeout=120s"],
        "env": [
            {"name": "DATABASE_HOST", "value": "shop-db.shop.svc.cluster.local"},
            {
                "name": "DATABASE_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "password"}},
            },
        ],
        "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}},
        "volumeMounts": [_api_access_mount()],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def _container(name: str, *, index: int, env_count: int) -> dict[str, Any]:
    port = 8080 + index
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
        {
            "name": "GOMEMLIMIT",
            "valueFrom": {
                "resourceFieldRef": {"containerName": name, "resource": "limits.memory", "divisor": "0"}
            },
        },
    ]
    env.extend(
        {"name": f"SHOP_SETTING_{number:02d}", "value": f"value-{number}-for-{name}"}
        for number in range(env_count - len(env))
    )
    probe_action = {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"}}
    return {
        "name": name,
        "image": f"registry.example.com/shop/{name}:2.14.1",
        "args": ["--listen=:" + str(port), "--log-format=json", "--config=/etc/shop/config.yaml"],
        "ports": [
            {"name": "http", "containerPort": port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090 + index, "protocol": "TCP"},
        ],
        "env": env,
        "resources": {
            "limits": {"cpu": "1", "memory": "512Mi"},
            "requests": {"cpu": "250m", "memory": "256Mi"},
        },
        "volumeMounts": [
            {"name": "config", "readOnly": True, "mountPath": "/etc/shop"},
            {"name": "tmp", "mountPath": "/tmp"},
            _api_access_mount(),
        ],
        "livenessProbe": {
            **probe_action,
            "initialDelaySeconds": 10,
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            **probe_action,
            "timeoutSeconds": 1,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _managed_fields(container_names: list[str]) -> dict[str, Any]:
    """The ReplicaSet controller's field set: one entry per container, as in a real pod's managedFields."""
    container_fields: dict[str, Any] = {
        "f:args": {},
        "f:env": {},
        "f:image": {},
        "f:imagePullPolicy": {},
        "f:livenessProbe": {},
        "f:name": {},
        "f:ports": {},
        "f:readinessProbe": {},
        "f:resources": {"f:limits": {}, "f:requests": {}},
        "f:securityContext": {},
        "f:terminationMessagePath": {},
        "f:terminationMessagePolicy": {},
        "f:volumeMounts": {},
    }
    return {
        "f:metadata": {
            "f:annotations": {".": {}, "f:kubectl.kubernetes.io/restartedAt": {}},
            "f:generateName": {},
            "f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, 'k:{"uid":"3b9e2f7a-1c4d-4a6b-8e0f-2d4c6a8b0e1f"}': {}},
        },
        "f:spec": {
            "f:affinity": {".": {}, "f:podAntiAffinity": {}},
            "f:containers": {
                f'k:{{"name":"{name}"}}': {".": {}, **container_fields} for name in container_names
            },
            "f:dnsPolicy": {},
            "f:enableServiceLinks": {},
            "f:initContainers": {
                'k:{"name":"migrate"}': {".": {}, "f:command": {}, "f:env": {}, "f:image": {}}
            },
            "f:restartPolicy": {},
            "f:schedulerName": {},
            "f:securityContext": {".": {}, "f:fsGroup": {}, "f:runAsNonRoot": {}},
            "f:serviceAccount": {},
            "f:serviceAccountName": {},
            "f:terminationGracePeriodSeconds": {},
            "f:volumes": {
                ".": {},
                'k:{"name":"config"}': {".": {}, "f:configMap": {}, "f:name": {}},
                'k:{"name":"tmp"}': {".": {}, "f:emptyDir": {}, "f:name": {}},
            },
        },
    }
