"""`audit`: list the pods of a cluster that missed their credentials; exit status 1 when there are any."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from webhook.cli.offline_sources import read_pod_identities, read_role_mappings
from webhook.cli.options import add_flag, add_mutation_options, mutation_settings_from
from webhook.cluster.kube_client import api_client
from webhook.cluster.kube_json import KubeJson
from webhook.cluster.list_watch import describe_api_error
from webhook.cluster.pods import list_pods
from webhook.engine.annotation_values import parse_name_list
from webhook.engine.mappings import RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.errors import ClusterError, WebhookError
from webhook.tools.audit import Audit, MissedPod, audit_pods
from webhook.tools.explain import IdentityInputs, cluster_service_accounts

FOUND = 1
"""Exit status when a pod missed its credentials, so a CI step or a CronJob fails visibly."""
ERROR = 2
"""Exit status when the audit could not be made: not a finding either way."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="list the pods that missed their credentials (exit status 1 if any, 2 on errors)",
        description="Lists the cluster's pods and runs the webhook's own mutation on each: a pod to which it "
        "would still add credentials was created without them (while the webhook was unreachable, or "
        "before its ServiceAccount had a role). Says why per pod in the words of `explain`, and what to do. "
        "Exit status 0 when no pod missed its credentials, 1 when some did, 2 when the audit failed.",
    )
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    add_flag(parser, "--kubeconfig", help="the cluster (default: in-cluster, then ~/.kube/config)")
    add_flag(parser, "--namespace", help="audit only this namespace (default: every namespace)")
    add_flag(parser, "--exclude-namespaces", type=parse_name_list, default=frozenset(), metavar="NS,NS",
             help="namespaces the webhook is not registered for, whose pods are never reported")  # fmt: skip
    add_flag(parser, "--config-map-file", metavar="PATH",
             help="role mappings: the pod-identity-webhook ConfigMap manifest, or its `config` JSON")  # fmt: skip
    add_flag(parser, "--watch-container-credentials-config", metavar="PATH",
             help="Pod Identity associations file {\"identities\": [...]}")  # fmt: skip
    add_mutation_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = _audit(args)
    except WebhookError as error:
        print(f"pod-identity-webhook: error: {error}", file=sys.stderr)
        return ERROR
    if args.output == "json":
        print(
            json.dumps(
                {"checked": result.checked, "missed": [_as_json(each) for each in result.missed]}, indent=2
            )
        )
    else:
        print("\n\n".join([*map(_as_text, result.missed), _summary(result)]))
    return FOUND if result.missed else 0


def _audit(args: argparse.Namespace) -> Audit:
    client = api_client(kubeconfig=args.kubeconfig, offline=None)
    inputs = IdentityInputs(
        service_accounts=cluster_service_accounts(KubeJson(client)),
        mappings=read_role_mappings(args.config_map_file) if args.config_map_file else RoleMappings(),
        pod_identities=(
            read_pod_identities(args.watch_container_credentials_config)
            if args.watch_container_credentials_config
            else PodIdentityAssociations()
        ),
        settings=mutation_settings_from(args),
        where="the cluster",
    )
    pods = list_pods(client, item_type=dict[str, Any], namespace=args.namespace)
    try:
        return audit_pods(pods, inputs=inputs, exclude_namespaces=args.exclude_namespaces)
    except ApiException as error:
        raise ClusterError(f"cannot list pods: {describe_api_error(error)}") from error
    except (HTTPError, OSError) as error:
        raise ClusterError(f"cannot list pods: cannot reach the API server: {error}") from error


def _as_text(missed: MissedPod) -> str:
    explanation = missed.explanation
    lines = [
        f"Pod {explanation.namespace}/{explanation.name} (ServiceAccount {explanation.service_account}): "
        "missed its credentials",
        *(f"  {reason}" for reason in explanation.reasons),
    ]
    for container in missed.containers:
        lines.append(f"  {'init container' if container.init else 'container'} {container.name}:")
        lines += [f"    {reason}" for reason in container.reasons]
    lines.append(f"  what to do: {missed.what_to_do}")
    return "\n".join(lines)


def _summary(result: Audit) -> str:
    if not result.missed:
        return f"none of {result.checked} pods missed its credentials"
    return f"{len(result.missed)} of {result.checked} pods missed their credentials"


def _as_json(missed: MissedPod) -> dict[str, Any]:
    explanation = missed.explanation
    return {
        "namespace": explanation.namespace,
        "name": explanation.name,
        "serviceAccount": explanation.service_account,
        "controller": missed.controller,
        "reasons": list(explanation.reasons),
        "containers": [
            {"name": container.name, "init": container.init, "reasons": list(container.reasons)}
            for container in missed.containers
        ],
        "whatToDo": missed.what_to_do,
    }
