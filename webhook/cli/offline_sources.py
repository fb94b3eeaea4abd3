"""Flags for the subcommands that run without a cluster (`inject`, `explain`): identities read from files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from webhook.cli.manifests import read_text
from webhook.cli.options import add_flag
from webhook.cluster import yaml_documents
from webhook.cluster.serviceaccount_file import load_service_account_annotations
from webhook.engine.mappings import CONFIG_KEY, CONFIG_MAP_NAME, RoleMappings
from webhook.engine.pod_identity_associations import PodIdentityAssociations
from webhook.errors import ConfigurationError
from webhook.tools.inject import OfflineIdentitySources


def add_offline_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("identities")
    add_flag(group, "--service-account-file", metavar="PATH",
             help="ServiceAccounts: a YAML file (multi-document or a List) or a directory of them")  # fmt: skip
    add_flag(group, "--config-map-file", metavar="PATH",
             help="role mappings: the pod-identity-webhook ConfigMap manifest, or its `config` JSON")  # fmt: skip
    add_flag(group, "--watch-container-credentials-config", metavar="PATH",
             help="Pod Identity associations file {\"identities\": [...]}")  # fmt: skip


def read_role_mappings(path: str) -> RoleMappings:
    """Mappings from a ConfigMap manifest (key `config`) or from the bare JSON value."""
    text = read_text(path)
    try:
        documents = [document for document in yaml_documents.load_all(text) if document is not None]
    except ValueError as error:
        raise ConfigurationError(f"{path}, {error}") from error
    config_maps = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "ConfigMap"]
    if not config_maps:
        return RoleMappings.parse(text)
    if len(config_maps) > 1:
        # Several manifests in one file (`helm template` output): the webhook's own ConfigMap, by its name.
        config_maps = [doc for doc in config_maps if _name(doc) == CONFIG_MAP_NAME]
        if len(config_maps) != 1:
            raise ConfigurationError(f"{path}: holds several ConfigMaps, and not one named {CONFIG_MAP_NAME}")
    data = config_maps[0].get("data") or {}
    config = data.get(CONFIG_KEY, "") if isinstance(data, dict) else None
    if not isinstance(config, str):
        raise ConfigurationError(f"{path}: the ConfigMap's data.{CONFIG_KEY} must be a string of JSON")
    return RoleMappings.parse(config)


def _name(document: dict[str, Any]) -> object:
    metadata = document.get("metadata")
    return metadata.get("name") if isinstance(metadata, dict) else None


def read_pod_identities(path: str) -> PodIdentityAssociations:
    return PodIdentityAssociations.parse(read_text(path), source=path)


def offline_sources_from(args: argparse.Namespace) -> OfflineIdentitySources:
    # Every annotation, not only the prefixed ones the mutation reads: explain looks for misspelt prefixes.
    annotations = (
        load_service_account_annotations(
            Path(args.service_account_file), prefix=None, default_namespace=args.namespace
        )
        if args.service_account_file
        else None
    )
    return OfflineIdentitySources(
        service_accounts=annotations,
        mappings=read_role_mappings(args.config_map_file) if args.config_map_file else RoleMappings(),
        pod_identities=(
            read_pod_identities(args.watch_container_credentials_config)
            if args.watch_container_credentials_config
            else PodIdentityAssociations()
        ),
    )
