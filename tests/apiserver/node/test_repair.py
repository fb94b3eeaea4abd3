"""Issue 21's repair, end to end: a Deployment's pod started before its ServiceAccount had a role, so without
credentials; the webhook's finder evicts it, the ReplicaSet controller makes a new one through admission, and
that pod's SDK gets the role's credentials. Needs the controllers (`make test-controllers`)."""

from __future__ import annotations

import pytest

from tests.apiserver.cluster import eventually
from tests.apiserver.control_plane import ControlPlane
from tests.apiserver.harness import FactoryFor
from tests.apiserver.node.controllers import Controllers
from tests.apiserver.node.running import ACCOUNT_ID, POD_LIMIT_SECONDS, MakeRole, PodRunner, Ran
from tests.e2e.pod_assertions import untouched_problems

pytestmark = pytest.mark.controllers


def test_a_pod_started_before_its_role_is_replaced_by_one_whose_sdk_gets_the_roles_credentials(
    runner: PodRunner,
    controllers: Controllers,
    make_role: MakeRole,
    factory_for: FactoryFor,
    node_plane: ControlPlane,
) -> None:
    namespace = runner.cluster.namespace()
    runner.cluster.service_account(namespace, "late")
    before = runner.deployed(namespace, runner.deployment("late", service_account="late"))
    assert untouched_problems(before.stored) == []
    assert before.credentials["outcome"] != "credentials", before.credentials

    role = make_role("late", "--service-account", f"{namespace}/late")
    runner.cluster.annotate_service_account(namespace, "late", {"eks.amazonaws.com/role-arn": role})
    factory_for(node_plane).start(
        "--find-missed-credentials", "--repair-missed-credentials",
        "--missed-credentials-interval", "2", "--repair-interval", "1",
        name="repairer",
    )  # fmt: skip

    def replaced() -> Ran:
        listed = runner.cluster.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app=late")
        fresh = [
            each for each in listed["items"] if each["metadata"]["uid"] != before.stored["metadata"]["uid"]
        ]
        assert fresh, "the pod has not been replaced yet"
        return runner.report_of_running(fresh[0])

    after = eventually(replaced, limit=POD_LIMIT_SECONDS, interval=1)
    assert after.credentials["outcome"] == "credentials", after.credentials
    assert after.credentials["arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/late/")
