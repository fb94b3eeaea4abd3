"""How the webhook reaches its cluster's API server, and which namespace it runs in.

The order is the reference webhook's (client-go `BuildConfigFromFlags`): an explicit `--kubeconfig` wins,
then the pod's own ServiceAccount (in-cluster), then the usual kubeconfig (`$KUBECONFIG`, `~/.kube/config`)
for a developer running it on a laptop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from webhook.errors import ConfigurationError, ServiceAccountSourceError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_KUBECONFIG = "~/.kube/config"


def api_client(
    *,
    kubeconfig: str | None = None,
    server: str | None = None,
    offline: str | None = "--service-account-file",
) -> ApiClient:
    """An API client for the cluster; raises an error that says which source failed and what to do.

    `server` (the reference's `--kube-api`) replaces the API server's URL as client-go's
    `BuildConfigFromFlags` does: with a kubeconfig, its server is overridden; without one, that URL is used
    alone, with no credentials. `offline` is the caller's way to run without a cluster, named when none is
    found (None for a command that has none). The kubernetes package is imported here, not at the top: it costs ~30 MB and
    ~1 s, and a webhook reading ServiceAccounts from a file never needs it.
    """
    from kubernetes.client import ApiClient, Configuration  # noqa: PLC0415
    from kubernetes.config.config_exception import ConfigException  # noqa: PLC0415
    from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, load_incluster_config  # noqa: PLC0415
    from kubernetes.config.kube_config import load_kube_config  # noqa: PLC0415

    configuration = Configuration()
    if kubeconfig:
        try:
            # persist_config=False: never write refreshed credentials back into the operator's file.
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration, persist_config=False
            )
        except (ConfigException, OSError, yaml.YAMLError) as error:
            raise ConfigurationError(f"--kubeconfig {kubeconfig}: cannot be used: {error}") from error
    elif server:
        pass  # client-go: a URL without a kubeconfig is used alone, with no credentials
    elif os.environ.get(SERVICE_HOST_ENV_NAME):
        try:
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as error:
            raise ServiceAccountSourceError(
                f"running in a pod but its in-cluster API credentials cannot be used: {error} "
                "(is automountServiceAccountToken off?)"
            ) from error
    else:
        default = os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
        try:
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=default, client_configuration=configuration, persist_config=False
            )
        except (ConfigException, OSError, yaml.YAMLError) as error:
            remedy = "pass --kubeconfig" + (f", or {offline} to run without a cluster" if offline else "")
            raise ServiceAccountSourceError(
                f"not running in a pod and no usable kubeconfig at {default} ({error}); {remedy}"
            ) from error
    if server:
        _replace_server(configuration, server=server.rstrip("/"))
    # urllib3 would retry a timed-out read three times by itself, silently: a hung watch would then hold its
    # thread four times as long, and a fallback read would keep asking after admission gave up on it. The
    # callers retry with their own logged backoff.
    configuration.retries = False
    return ApiClient(configuration)


def _replace_server(configuration: Configuration, *, server: str) -> None:
    """The kubeconfig loader re-applies the whole file, its server included, before every request that
    refreshes credentials: the replacement is re-applied after it."""
    configuration.host = server
    refresh = configuration.refresh_api_key_hook
    if refresh is None:
        return

    def refresh_keeping_server(refreshed: Configuration) -> None:
        refresh(refreshed)
        refreshed.host = server

    configuration.refresh_api_key_hook = refresh_keeping_server


def webhook_namespace(
    *, environ: Mapping[str, str] = os.environ, namespace_file: Path = IN_CLUSTER_NAMESPACE_FILE
) -> str:
    """The webhook's namespace: `POD_NAMESPACE` (downward API), else the in-cluster file, else "default"."""
    from_environment = environ.get("POD_NAMESPACE", "").strip()
    if from_environment:
        return from_environment
    try:
        from_file = namespace_file.read_text(encoding="utf-8").strip()
    except OSError:
        from_file = ""
    return from_file or "default"
