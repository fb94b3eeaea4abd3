"""`audit`: the pods of a cluster that missed their credentials, said in `explain`'s words.

The finding is the running webhook's (`engine.missed_credentials`): a pod missed its credentials when the
mutation, run now on the pod as stored, would still add the credential pair to one of its containers. The
words are `explain`'s: which identity the ServiceAccount gives and where from, and what each container would
get, so an operator reading an audit in CI and one running `explain` on a pod read the same sentences.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from webhook.cluster.pods import ListedPod
from webhook.engine.identity import resolve_identity
from webhook.engine.missed_credentials import containers_missing_credentials, what_to_do
from webhook.tools.explain import ContainerExplanation, IdentityInputs, PodExplanation, explain_pod


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedPod:
    explanation: PodExplanation
    containers: tuple[ContainerExplanation, ...]
    """The containers without the credentials, each with what the webhook would give it."""
    controller: str | None
    """"ReplicaSet web-5d4f", or None for a bare pod."""
    what_to_do: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit:
    checked: int
    """Pods running or about to, in the namespaces audited."""
    missed: tuple[MissedPod, ...]


def audit_pods(
    pods: Iterable[dict[str, Any]], *, inputs: IdentityInputs, exclude_namespaces: Collection[str] = ()
) -> Audit:
    """Every pod of `pods` (as the API server lists them) that missed its credentials."""
    checked = 0
    missed = []
    for obj in pods:
        listed = msgspec.convert(obj, ListedPod)
        namespace = listed.metadata.namespace
        if not listed.active or namespace in exclude_namespaces:
            continue
        checked += 1
        pod = listed.pod
        resolution = resolve_identity(
            namespace=namespace,
            service_account=pod.service_account_name,
            annotations=inputs.service_accounts(namespace, pod.service_account_name),
            mappings=inputs.mappings,
            pod_identities=inputs.pod_identities,
            settings=inputs.settings,
        )
        lacking = containers_missing_credentials(pod, resolution=resolution, settings=inputs.settings)
        if not lacking:
            continue
        explanation = explain_pod(
            obj, pod=pod, kind="Pod", name=listed.metadata.name, namespace=namespace, inputs=inputs
        )
        missed.append(
            MissedPod(
                explanation=explanation,
                containers=tuple(each for each in explanation.containers if each.name in lacking),
                controller=listed.controller_name,
                what_to_do=what_to_do(controller=listed.controller_name),
            )
        )
    return Audit(checked=checked, missed=tuple(missed))
