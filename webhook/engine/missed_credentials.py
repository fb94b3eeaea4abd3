"""Pods that started without the credentials their ServiceAccount now gives: found with the mutation itself.

A pod is only ever mutated when it is created. One admitted while the webhook was unreachable (with
`failurePolicy: Ignore` that is silent by design), or before its ServiceAccount had a role, keeps running
without credentials, and a crash-looping container never comes back through admission. Such a pod is
exactly one for which the mutation, run now on the stored pod, would still add the credential variables:
no other test is needed, and none can disagree with what admission does.
"""

from __future__ import annotations

from webhook.engine.identity import Mode, Resolution, describe_identity
from webhook.engine.mutation import IRSA_KEYS, POD_IDENTITY_KEYS, mutate
from webhook.engine.pod_view import Pod
from webhook.engine.settings import MutationSettings

EVENT_REASON = "MissedAWSCredentials"


def containers_missing_credentials(
    pod: Pod, *, resolution: Resolution, settings: MutationSettings
) -> tuple[str, ...]:
    """The (init) containers the webhook would give credentials to if the pod were created now.

    Only the credential pair counts: a region or STS setting added to the flags later, or a token
    volume the user mounts themselves, does not make a pod one that missed its credentials.
    """
    identity = resolution.identity
    if identity is None:
        return ()
    keys = frozenset(POD_IDENTITY_KEYS if identity.mode is Mode.POD_IDENTITY else IRSA_KEYS)
    mutation = mutate(pod, identity, settings)
    return tuple(outcome.name for outcome in mutation.containers if keys.intersection(outcome.added_env))


def what_to_do(*, controller: str | None) -> str:
    """The remedy, for a pod owned by `controller` ("ReplicaSet web-5d4f") or by nothing."""
    if controller is None:
        return "this pod has no controller: create it again (delete and re-apply it) to get credentials"
    return f"delete (or evict) this pod: its {controller} creates it again, and the new pod gets credentials"


def missed_credentials_message(
    *,
    containers: tuple[str, ...],
    service_account: str,
    resolution: Resolution,
    role_key: str,
    controller: str | None,
) -> str:
    """Why the pod has no credentials and what to do, for its Event and the webhook's log."""
    names = ", ".join(containers)
    return (
        f"container(s) {names} have no AWS credentials, but ServiceAccount {service_account} now has an AWS "
        f"identity ({describe_identity(resolution, role_key=role_key)}): the pod was created without the "
        "webhook (while it was unreachable, or before the ServiceAccount had its role), and credentials "
        f"are only injected when a pod is created; {what_to_do(controller=controller)}"
    )
