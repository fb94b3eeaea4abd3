"""`pod-identity-webhook inject`: the server's mutation applied to manifests, offline."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from webhook.cli.manifests import read_manifests, write_yaml
from webhook.cli.offline_sources import add_offline_source_options, offline_sources_from
from webhook.cli.options import add_flag, add_mutation_options, mutation_settings_from
from webhook.tools.inject import PodPatch, inject_document


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inject",
        help="apply the webhook's mutation to Pods and pod templates in YAML or JSON manifests",
        description="Reads manifests (multi-document YAML, JSON, or a stream of JSON objects), mutates every Pod "
        "and the pod template of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, "
        "Jobs, CronJobs and PodTemplates, in the items of a List too, exactly as the server would, and writes "
        "the documents back in order. Warnings go to stderr.",
    )
    parser.add_argument(
        "-f", "--filename", required=True, metavar="FILE", help="manifest file, or - for stdin"
    )
    parser.add_argument("-o", "--output", choices=("manifest", "patch"), default="manifest",
                        help="the mutated manifests (default), or each pod's JSON patch")  # fmt: skip
    add_flag(parser, "--namespace", default="default", help="namespace of objects that do not name one")
    add_offline_source_options(parser)
    add_mutation_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    manifests = read_manifests(args.filename)
    documents = manifests.documents
    sources = offline_sources_from(args)
    settings = mutation_settings_from(args)
    results: list[PodPatch] = []
    for position, document in zip(manifests.positions, documents, strict=True):
        results.extend(
            inject_document(
                document, index=position, default_namespace=args.namespace, sources=sources, settings=settings
            )
        )
    for result in results:
        for warning in result.warnings:
            print(f"warning: {result.kind} {result.namespace}/{result.name}: {warning}", file=sys.stderr)
    if args.output == "patch":
        for result in results:
            print(json.dumps({"document": result.document, "item": result.item, "kind": result.kind,
                              "namespace": result.namespace, "name": result.name, "patch": result.patch}))  # fmt: skip
    elif manifests.json_array:
        print(json.dumps(documents, indent=2))
    elif manifests.json:
        for document in documents:
            print(json.dumps(document, indent=2))
    else:
        sys.stdout.write(write_yaml(documents))
    return 0
