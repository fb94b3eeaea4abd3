"""The chart's ServiceAccount and RBAC objects created in the API server, and a token of that ServiceAccount:
how the suite runs the webhook with exactly what the chart grants, and with one rule less to show a loss.

The objects are created as `helm template` rendered them (in the webhook's namespace), by the administrator,
as `helm install` would; the webhook then talks to the API server with a TokenRequest token only.
"""

from __future__ import annotations

import copy
import ssl
from dataclasses import dataclass

import httpx

from tests.apiserver.cluster import Cluster, Json
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.webhook_process import WEBHOOK_NAMESPACE
from tests.chart.rendering import Rendered

_RBAC = "/apis/rbac.authorization.k8s.io/v1"
COLLECTIONS = {
    "ServiceAccount": f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}/serviceaccounts",
    "ClusterRole": f"{_RBAC}/clusterroles",
    "ClusterRoleBinding": f"{_RBAC}/clusterrolebindings",
    "Role": f"{_RBAC}/namespaces/{WEBHOOK_NAMESPACE}/roles",
    "RoleBinding": f"{_RBAC}/namespaces/{WEBHOOK_NAMESPACE}/rolebindings",
}
"""Where each kind the chart renders for the webhook's identity is created, in the order helm installs them."""
TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class RuleLoss:
    """One verb taken out of the chart's rules for one resource: what a regression of the chart looks like."""

    kind: str
    """Role or ClusterRole."""
    resource: str
    verb: str

    def applied_to(self, role: Json) -> Json:
        if role["kind"] != self.kind:
            return role
        changed = copy.deepcopy(role)
        for rule in changed["rules"]:
            if self.resource in rule["resources"] and self.verb in rule["verbs"]:
                rule["verbs"].remove(self.verb)
        changed["rules"] = [rule for rule in changed["rules"] if rule["verbs"]]
        return changed

    def __str__(self) -> str:
        return f"{self.kind} without {self.verb} on {self.resource}"


def create_chart_identity(cluster: Cluster, rendered: Rendered, *, loss: RuleLoss | None = None) -> str:
    """Create the rendered ServiceAccount, Roles, ClusterRoles and their bindings (less `loss`); the
    ServiceAccount's name. Fails if `loss` removes nothing, so a test never proves a loss that did not
    happen."""
    created: list[Json] = []
    for kind, path in COLLECTIONS.items():
        for item in rendered.of_kind(kind):
            body = loss.applied_to(item) if loss else item
            created.append(body)
            cluster.create(path, body)
    if loss is not None:
        assert [each for each in created if each["kind"] == loss.kind] != rendered.of_kind(loss.kind), (
            f"the chart grants no {loss.verb} on {loss.resource} in a {loss.kind} to take away"
        )
    (account,) = rendered.of_kind("ServiceAccount")
    name: str = account["metadata"]["name"]
    return name


def service_account_token(cluster: Cluster, name: str) -> str:
    """A token of the ServiceAccount from TokenRequest, as the kubelet would mount it into the webhook's pod."""
    answer = cluster.create(
        f"{COLLECTIONS['ServiceAccount']}/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS},
        },
    )
    token: str = answer["status"]["token"]
    return token


def token_client(plane: ControlPlane, token: str) -> httpx.Client:
    """The API server as the ServiceAccount sees it."""
    return httpx.Client(
        base_url=plane.url,
        verify=ssl.create_default_context(cafile=str(plane.pki.ca)),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
