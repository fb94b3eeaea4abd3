"""A Deployment's pod, as production pods are made: the ReplicaSet controller creates it from the template
with `generateName` (no name at admission time) and the scheduler binds it to the node. Our webhook must
mutate it all the same, and its SDK get the role's credentials.

Run by `make test-controllers`, not `make test`: the two controllers have no prebuilt cache here and their
first build from source takes about 10 minutes."""

from __future__ import annotations

import pytest

from tests.apiserver.node.controllers import Controllers
from tests.apiserver.node.running import ACCOUNT_ID, REGION, MakeRole, PodRunner, Ran
from tests.e2e.pod_assertions import irsa_problems

pytestmark = pytest.mark.controllers


@pytest.fixture(scope="module")
def storefront(runner: PodRunner, controllers: Controllers, make_role: MakeRole) -> tuple[str, Ran]:
    namespace = runner.cluster.namespace()
    role = make_role("storefront", "--service-account", f"{namespace}/storefront")
    runner.cluster.service_account(namespace, "storefront", annotations={"eks.amazonaws.com/role-arn": role})
    return role, runner.deployed(namespace, runner.deployment("storefront", service_account="storefront"))


def test_the_pod_is_named_by_its_replicaset_and_placed_by_the_scheduler(
    storefront: tuple[str, Ran], runner: PodRunner
) -> None:
    _, ran = storefront
    metadata = ran.stored["metadata"]
    assert [owner["kind"] for owner in metadata["ownerReferences"]] == ["ReplicaSet"]
    assert metadata["generateName"].startswith("storefront-")
    assert metadata["name"].startswith(metadata["generateName"])
    assert ran.stored["spec"]["nodeName"] == runner.node_name


def test_a_deployments_pod_gets_credentials_for_its_serviceaccounts_role(storefront: tuple[str, Ran]) -> None:
    role, ran = storefront
    assert irsa_problems(ran.stored, role_arn=role, region=REGION) == []
    assert ran.credentials["outcome"] == "credentials", ran.credentials
    assert ran.credentials["arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/storefront/")
