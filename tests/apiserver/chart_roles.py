"""The webhook's own identity as the chart installs it: its ServiceAccount, bound to the roles the chart
renders for given values, and a kubeconfig holding a token of that ServiceAccount, so a test runs the webhook
with exactly the permissions an installation gives it, no more."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.apiserver.cluster import ApiError, Cluster, Json
from tests.apiserver.control_plane import ControlPlane
from tests.chart.rendering import Chart

_COLLECTIONS = {
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
}
TOKEN_SECONDS = 3600


def _put(cluster: Cluster, obj: Json) -> None:
    """Create the object, or replace it whole: one module binds the roles of several values in turn."""
    collection = _COLLECTIONS[obj["kind"]].format(namespace=obj["metadata"].get("namespace", ""))
    response = cluster.request("POST", collection, json=obj)
    if response.status_code == 409:
        cluster.call("PUT", f"{collection}/{obj['metadata']['name']}", json=obj)
    elif response.status_code >= 300:
        raise ApiError(f"POST {collection}: {response.status_code} {response.text}")


def kubeconfig_with_chart_roles(
    plane: ControlPlane, chart: Chart, *, values: Mapping[str, Any], path: Path
) -> Path:
    """Apply the chart's ServiceAccount and RBAC objects for `values` and write a kubeconfig for a token of
    that ServiceAccount (TokenRequest, as the kubelet gets one for the webhook's pod)."""
    rendered = chart.render(values)
    (account,) = rendered.of_kind("ServiceAccount")
    with plane.admin_client() as client:
        cluster = Cluster(client)
        for kind in _COLLECTIONS:
            for obj in rendered.of_kind(kind):
                _put(cluster, obj)
        metadata = account["metadata"]
        issued = cluster.create(
            f"/api/v1/namespaces/{metadata['namespace']}/serviceaccounts/{metadata['name']}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": TOKEN_SECONDS},
            },
        )
    return plane.write_kubeconfig(path, token=issued["status"]["token"])
