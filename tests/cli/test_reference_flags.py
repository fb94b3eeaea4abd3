"""Every flag of the reference's command line (SPEC §5), one by one: parsed with its spelling by `serve` and by
the compatible entry point (`/webhook`), and by `inject` and `explain` when it changes the patch; its default is
held by tests/test_switching.py against the README; its effect below, or in the test named for it."""

from __future__ import annotations

import argparse
import json
import logging
import ssl
from pathlib import Path

import pytest
import yaml

from tests.engine.support import pod
from tests.reference_manifest import REFERENCE_COMMAND_LINE
from webhook.cli import build_parser, main
from webhook.cli.reference_compat import check_reference_options, reference_arguments
from webhook.errors import ConfigurationError
from webhook.tls.startup import self_managed_settings_from, serving_tls_from

REPO = Path(__file__).resolve().parent.parent.parent
PARSED = {
    "--port": ("9443", "port", 9443),
    "--metrics-port": ("19999", "metrics_port", 19999),
    "--kubeconfig": ("/etc/kubeconfig", "kubeconfig", "/etc/kubeconfig"),
    "--kube-api": ("https://10.0.0.1:6443", "kube_api", "https://10.0.0.1:6443"),
    "--tls-cert": ("/certs/cert.pem", "tls_cert", "/certs/cert.pem"),
    "--tls-key": ("/certs/key.pem", "tls_key", "/certs/key.pem"),
    "--tls-cipher-suites": ("TLS_AES_128_GCM_SHA256", "tls_cipher_suites", "TLS_AES_128_GCM_SHA256"),
    "--tls-min-version": ("VersionTLS13", "tls_min_version", "VersionTLS13"),
    "--in-cluster": ("true", "in_cluster", True),
    "--service-name": ("webhook-svc", "service_name", "webhook-svc"),
    "--namespace": ("kube-system", "namespace", "kube-system"),
    "--tls-secret": ("webhook-tls", "tls_secret", "webhook-tls"),
    "--annotation-prefix": ("iam.example.com", "annotation_prefix", "iam.example.com"),
    "--token-audience": ("custom-audience", "token_audience", "custom-audience"),
    "--token-mount-path": ("/custom/irsa", "token_mount_path", "/custom/irsa"),
    "--token-expiration": ("3600", "token_expiration", 3600),
    "--aws-default-region": ("eu-north-1", "aws_default_region", "eu-north-1"),
    "--sts-regional-endpoint": ("true", "sts_regional_endpoint", True),
    "--watch-config-map": ("true", "watch_config_map", True),
    "--compose-role-arn": ("true", "compose_role_arn", True),
    "--watch-container-credentials-config": ("/config/identities.json", "watch_container_credentials_config",
                                             "/config/identities.json"),
    "--container-credentials-audience": ("agent-audience", "container_credentials_audience", "agent-audience"),
    "--container-credentials-token-mount-path": ("/custom/agent", "container_credentials_token_mount_path",
                                                 "/custom/agent"),
    "--container-credentials-token-volume-name": ("agent-token", "container_credentials_token_volume_name",
                                                  "agent-token"),
    "--container-credentials-token-path": ("agent-file", "container_credentials_token_path", "agent-file"),
    "--container-credentials-full-uri": ("http://[fd00:ec2::23]/v1/credentials", "container_credentials_full_uri",
                                         "http://[fd00:ec2::23]/v1/credentials"),
    "--enable-debugging-handlers": ("true", "enable_debugging_handlers", True),
    "--service-account-lookup-grace-period": ("5s", "reference_service_account_lookup_grace_period", "5s"),
    "--resync-period": ("1m", "reference_resync_period", "1m"),
}  # fmt: skip
"""flag: (a value as a reference manifest writes it, where it is parsed to, what it is parsed to)."""
BOOLEAN = {"--in-cluster", "--sts-regional-endpoint", "--watch-config-map", "--compose-role-arn",
           "--enable-debugging-handlers"}  # fmt: skip
MUTATION = [
    "--annotation-prefix", "--token-audience", "--token-mount-path", "--token-expiration", "--aws-default-region",
    "--sts-regional-endpoint", "--compose-role-arn", "--watch-container-credentials-config",
    "--container-credentials-audience", "--container-credentials-token-mount-path",
    "--container-credentials-token-volume-name", "--container-credentials-token-path",
    "--container-credentials-full-uri",
]  # fmt: skip
PROVEN_BY = {
    "--port": "tests/integration/test_ports.py",
    "--metrics-port": "tests/integration/test_ports.py",
    "--kubeconfig": "tests/integration/test_cluster_mode.py",
    "--kube-api": "tests/integration/test_cluster_mode.py",
    "--tls-cert": "tests/integration/server_process.py",
    "--tls-key": "tests/integration/server_process.py",
    "--namespace": "tests/integration/test_cluster_mode.py",
    "--watch-config-map": "tests/integration/test_cluster_mode.py",
    "--compose-role-arn": "tests/integration/test_compose_role_arn.py",
    "--enable-debugging-handlers": "tests/integration/test_debugging_handlers.py",
}
"""Flags whose effect needs the running server: the test that shows it against the real process."""


def test_every_flag_of_the_reference_is_in_this_file() -> None:
    assert set(PARSED) | {"--version"} == {flag for flag, _ in REFERENCE_COMMAND_LINE}


def spellings(flag: str, value: str) -> list[list[str]]:
    """`--flag=value` and, for flags that take a value, `--flag value`: both are pflag's."""
    return [[f"{flag}={value}"]] + ([] if flag in BOOLEAN else [[flag, value]])


@pytest.mark.parametrize("flag", list(PARSED))
def test_the_compatible_entry_point_and_serve_parse_the_flag(flag: str) -> None:
    value, where, parsed = PARSED[flag]
    for given in spellings(flag, value):
        for arguments in (reference_arguments(given, environ={}), ["serve", *given]):
            assert getattr(build_parser().parse_args(arguments), where) == parsed, arguments


@pytest.mark.parametrize("command", ["inject", "explain"])
@pytest.mark.parametrize("flag", MUTATION)
def test_the_offline_commands_parse_each_mutation_flag(command: str, flag: str) -> None:
    value, where, parsed = PARSED[flag]

    assert getattr(build_parser().parse_args([command, "-f", "-", f"{flag}={value}"]), where) == parsed


@pytest.mark.parametrize("flag", list(PROVEN_BY))
def test_the_effect_of_a_server_flag_is_shown_against_the_real_process(flag: str) -> None:
    assert flag in (REPO / PROVEN_BY[flag]).read_text(encoding="utf-8")


SERVICE_ACCOUNTS = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  namespace: shop
  annotations: {eks.amazonaws.com/role-arn: reader, iam.example.com/role-arn: "arn:aws:iam::111122223333:role/custom"}
"""
EFFECTS = {
    "--annotation-prefix": ([], "arn:aws:iam::111122223333:role/custom"),
    "--token-audience": ([], "audience: custom-audience"),
    "--token-mount-path": ([], "mountPath: /custom/irsa"),
    "--token-expiration": ([], "expirationSeconds: 3600"),
    "--aws-default-region": ([], "value: eu-north-1"),
    "--sts-regional-endpoint": ([], "AWS_STS_REGIONAL_ENDPOINTS"),
    "--compose-role-arn": ([], "arn:aws:iam::444455556666:role/reader"),
    "--watch-container-credentials-config": ([], "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    "--container-credentials-audience": (["POD_IDENTITY"], "audience: agent-audience"),
    "--container-credentials-token-mount-path": (["POD_IDENTITY"], "mountPath: /custom/agent"),
    "--container-credentials-token-volume-name": (["POD_IDENTITY"], "name: agent-token"),
    "--container-credentials-token-path": (["POD_IDENTITY"], "path: agent-file"),
    "--container-credentials-full-uri": (["POD_IDENTITY"], "value: http://[fd00:ec2::23]/v1/credentials"),
}
"""Mutation flag: (other flags it needs, what the pod `inject` makes then holds and holds only with it)."""


@pytest.mark.parametrize("flag", MUTATION)
def test_the_effect_of_a_mutation_flag_is_in_the_pod_made(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts, manifest, identities = tmp_path / "sa.yaml", tmp_path / "pod.yaml", tmp_path / "identities.json"
    accounts.write_text(SERVICE_ACCOUNTS)
    original = pod()
    original["metadata"]["namespace"] = "shop"
    original["spec"]["serviceAccountName"] = "app"
    manifest.write_text(yaml.safe_dump(original))
    identities.write_text(json.dumps({"identities": [{"namespace": "shop", "serviceAccount": "app"}]}))
    needs, shown = EFFECTS[flag]
    given = {
        "--watch-container-credentials-config": [f"{flag}={identities}"],
        "--compose-role-arn": [flag, "--compose-account-id=444455556666"],
    }.get(flag, [f"{flag}={PARSED[flag][0]}"])
    extra = [
        f"--watch-container-credentials-config={identities}" if item == "POD_IDENTITY" else item
        for item in needs
    ]
    base = ["inject", "-f", str(manifest), "--service-account-file", str(accounts), *extra]

    assert main(base) == 0
    without = capsys.readouterr().out
    assert main([*base, *given]) == 0
    made = capsys.readouterr().out

    assert shown in made
    assert shown not in without


def test_tls_flags_shape_the_served_context() -> None:
    args = build_parser().parse_args(
        reference_arguments(
            ["--tls-min-version=VersionTLS12", "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
            environ={},
        )
    )

    context = serving_tls_from(args).context

    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert [cipher["name"] for cipher in context.get_ciphers() if cipher["protocol"] == "TLSv1.2"] == [
        "ECDHE-RSA-AES128-GCM-SHA256"
    ]


def test_an_unknown_cipher_suite_stops_the_start_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    accounts = tmp_path / "sa.yaml"
    accounts.write_text(SERVICE_ACCOUNTS)

    status = main(  # nothing is started: the flags are checked first
        [
            "--tls-cipher-suites=TLS_MADE_UP",
            f"--service-account-file={accounts}",
            "--port=1",
            "--metrics-port=2",
            "--bind-address=127.0.0.1",
        ]
    )

    assert status == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "--tls-cipher-suites: unknown cipher suite 'TLS_MADE_UP'" in error


def test_service_name_and_tls_secret_name_the_self_managed_certificate_and_secret() -> None:
    args = build_parser().parse_args(
        reference_arguments(
            ["--tls-mode=self", "--service-name=webhook-svc", "--tls-secret=webhook-tls"], environ={}
        )
    )

    settings = self_managed_settings_from(args, namespace="kube-system")

    assert "webhook-svc.kube-system.svc" in settings.dns_names
    assert settings.secret_name == "webhook-tls"


def test_in_cluster_true_is_refused_and_false_accepted() -> None:
    with pytest.raises(ConfigurationError, match="--in-cluster=true"):
        check_reference_options(
            build_parser().parse_args(reference_arguments(["--in-cluster=true"], environ={}))
        )
    check_reference_options(
        build_parser().parse_args(reference_arguments(["--in-cluster=false"], environ={}))
    )


@pytest.mark.parametrize("flag", ["--service-account-lookup-grace-period", "--resync-period"])
def test_an_ignored_flag_is_named_in_the_warning_at_start(
    flag: str, caplog: pytest.LogCaptureFixture
) -> None:
    value = PARSED[flag][0]
    args = build_parser().parse_args(reference_arguments([f"{flag}={value}"], environ={}))

    with caplog.at_level(logging.WARNING, logger="webhook.cli"):
        check_reference_options(args)

    assert f"{flag}={value}" in caplog.text


def test_version_prints_the_version_through_the_compatible_entry_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(reference_arguments(["--version"], environ={}))

    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("pod-identity-webhook ")


def test_parsed_values_are_arguments_not_defaults() -> None:
    """Each value in PARSED differs from the default, so parsing it proves the flag was read."""
    defaults = build_parser().parse_args(reference_arguments([], environ={}))
    for flag, (_, where, parsed) in PARSED.items():
        assert getattr(defaults, where, argparse.SUPPRESS) != parsed, flag
