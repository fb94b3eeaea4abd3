"""Flags for the subcommands that run without a cluster (`inject`, `explain`): identities read from files."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from webhook.cli.options import add_flag
from webhook.errors import ConfigurationError
from webhook.inject import OfflineIdentitySources
from webhook.mappings import RoleMappings
from webhook.pod_identity_associations import PodIdentityAssociations
from webhook.serviceaccount_file import load_service_account_annotations


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
    text = _read(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path}: not YAML or JSON: {error}") from error
    if isinstance(document, dict) and document.get("kind") == "ConfigMap":
        return RoleMappings.parse((document.get("data") or {}).get("config", ""))
    return RoleMappings.parse(text)


def read_pod_identities(path: str) -> PodIdentityAssociations:
    return PodIdentityAssociations.parse(_read(path), source=path)


def offline_sources_from(args: argparse.Namespace) -> OfflineIdentitySources:
    # Every annotation, not only the prefixed ones the mutation reads: explain looks for misspelt prefixes.
    annotations = (
        load_service_account_annotations(
            Path(args.service_account_file), prefix=None, default_namespace=args.namespace
        )
        if args.service_account_file
        else {}
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


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from error
