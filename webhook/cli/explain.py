"""`explain`: say what the webhook will do to each container of a pod, and why, or what stops it."""

from __future__ import annotations

import argparse
import enum
import json
from typing import Any

from webhook.cli.manifests import read_manifests
from webhook.cli.offline_sources import add_offline_source_options, offline_sources_from
from webhook.cli.options import add_flag, add_mutation_options, mutation_settings_from
from webhook.cluster.kube_client import api_client
from webhook.cluster.kube_json import KubeJson
from webhook.errors import ConfigurationError
from webhook.tools.explain import (
    ContainerExplanation,
    IdentityInputs,
    PodExplanation,
    Verdict,
    cluster_service_accounts,
    explain_document,
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "explain",
        help="say what the webhook will do to each container of a pod and why, or what stops it",
        description="Reads a Pod, `kubectl get pod -o yaml` output (a List too) or a workload's pod "
        "template, resolves its ServiceAccount's identity and runs the webhook's own mutation on it, then "
        "says per container what is injected and why, or which condition stopped it. ServiceAccounts come "
        "from --service-account-file, or else from the cluster.",
    )
    parser.add_argument(
        "-f", "--filename", required=True, metavar="FILE", help="manifest file, or - for stdin"
    )
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    add_flag(parser, "--namespace", default="default",
             help="namespace of pods, and of ServiceAccounts in the file, that do not name one")  # fmt: skip
    add_flag(parser, "--kubeconfig", help="read ServiceAccounts from this cluster (default: in-cluster, then "
             "~/.kube/config) unless --service-account-file is given")  # fmt: skip
    add_offline_source_options(parser)
    add_mutation_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    manifests = read_manifests(args.filename)
    inputs = _inputs_from(args)
    explanations = [
        explanation
        for position, document in zip(manifests.positions, manifests.documents, strict=True)
        for explanation in explain_document(
            document, index=position, default_namespace=args.namespace, inputs=inputs
        )
    ]
    if not explanations:
        raise ConfigurationError(f"{args.filename}: no Pod or pod template found")
    if args.output == "json":
        print(json.dumps([_as_json(explanation) for explanation in explanations], indent=2))
    else:
        print("\n\n".join(_as_text(explanation) for explanation in explanations))
    return 0


def _inputs_from(args: argparse.Namespace) -> IdentityInputs:
    sources = offline_sources_from(args)
    accounts = sources.service_accounts
    if accounts is not None:
        lookup, where = (lambda namespace, name: accounts.get((namespace, name))), args.service_account_file
    else:
        lookup, where = (
            cluster_service_accounts(KubeJson(api_client(kubeconfig=args.kubeconfig))),
            "the cluster",
        )
    return IdentityInputs(
        service_accounts=lookup,
        mappings=sources.mappings,
        pod_identities=sources.pod_identities,
        settings=mutation_settings_from(args),
        where=where,
    )


def _as_text(explanation: PodExplanation) -> str:
    outcome = "will be changed" if explanation.verdict is Verdict.MUTATED else "left unchanged"
    lines = [
        f"{explanation.kind} {explanation.namespace}/{explanation.name} "
        f"(ServiceAccount {explanation.service_account}): {outcome}",
        *(f"  {reason}" for reason in explanation.reasons),
    ]
    for container in explanation.containers:
        lines.append(f"  {'init container' if container.init else 'container'} {container.name}:")
        lines += [f"    {reason}" for reason in container.reasons]
    lines += [f"  pod: {change}" for change in explanation.pod_changes]
    lines += [f"  note: {note}" for note in explanation.notes]
    lines += [f"  warning: {warning}" for warning in explanation.warnings]
    return "\n".join(lines)


def _as_json(explanation: PodExplanation) -> dict[str, Any]:
    identity = explanation.identity
    return {
        "kind": explanation.kind,
        "namespace": explanation.namespace,
        "name": explanation.name,
        "serviceAccount": explanation.service_account,
        "verdict": explanation.verdict.value,
        "changed": explanation.verdict is Verdict.MUTATED,
        "reasons": list(explanation.reasons),
        "identitySource": explanation.source.value,
        "identity": None
        if identity is None
        else {
            "mode": identity.mode.value,
            "roleArn": identity.role_arn,
            "audience": identity.audience,
            "tokenExpiration": identity.token_expiration,
            "regionalSts": identity.regional_sts,
        },
        "containers": [_container_json(container) for container in explanation.containers],
        "podChanges": list(explanation.pod_changes),
        "notes": list(explanation.notes),
        "warnings": list(explanation.warnings),
        "patch": explanation.patch,
    }


def _container_json(container: ContainerExplanation) -> dict[str, Any]:
    return {
        "name": container.name,
        "init": container.init,
        "changed": container.changed,
        "addedEnv": [{"name": name, "value": value} for name, value in container.added_env],
        "skipped": _code(container.skipped),
        "mount": _code(container.mount),
        "reasons": list(container.reasons),
    }


def _code(member: enum.Enum | None) -> str | None:
    return None if member is None else member.name.lower().replace("_", "-")
