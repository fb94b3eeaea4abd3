"""A manifest written for amazon-eks-pod-identity-webhook runs unchanged: its command line is read as `serve`,
its flags without a counterpart are named and ignored, and what cannot be honoured is refused in one line."""

from __future__ import annotations

import argparse
import logging

import pytest

from tests.reference_manifest import REFERENCE_FLAGS
from webhook.cli import build_parser, main
from webhook.cli.options import mutation_settings_from
from webhook.cli.reference_compat import check_reference_options, reference_arguments
from webhook.errors import ConfigurationError


def reference_command_line(*argv: str, environ: dict[str, str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(reference_arguments(argv, environ={} if environ is None else environ))


def test_reference_deployment_command_line_runs_with_the_reference_defaults() -> None:
    args = reference_command_line(*REFERENCE_FLAGS)

    assert (args.port, args.tls_cert, args.tls_key) == (
        443,
        "/etc/webhook/certs/tls.crt",
        "/etc/webhook/certs/tls.key",
    )
    assert (args.namespace, args.service_name, args.tls_mode, args.in_cluster) == (
        "default",
        "pod-identity-webhook",
        "files",
        False,
    )
    settings = mutation_settings_from(args)
    assert (settings.annotation_prefix, settings.token_audience) == ("eks.amazonaws.com", "sts.amazonaws.com")


def test_flags_on_the_reference_command_line_beat_its_defaults() -> None:
    args = reference_command_line("--port=8443", "--tls-cert", "/certs/cert.pem")

    assert (args.port, args.tls_cert, args.tls_key) == (8443, "/certs/cert.pem", "/etc/webhook/certs/tls.key")


def test_environment_variables_beat_the_reference_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_PORT", "9443")

    args = build_parser().parse_args(reference_arguments([]))

    assert (args.port, args.tls_cert) == (9443, "/etc/webhook/certs/tls.crt")


def test_serve_keeps_its_own_defaults() -> None:
    args = build_parser().parse_args(["serve"])

    assert (args.port, args.tls_cert, args.tls_key) == (8443, None, None)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], False),
        (["--watch-config-map"], True),
        (["--watch-config-map=true"], True),
        (["--watch-config-map=false"], False),
        (["--watch-config-map=TRUE"], True),
        (["--watch-config-map=True"], True),
        (["--watch-config-map=t"], True),
        (["--watch-config-map=F"], False),
        (["--watch-config-map=1"], True),
        (["--watch-config-map=0"], False),
    ],
)
def test_boolean_flags_take_every_spelling_of_gos_parse_bool(arguments: list[str], expected: bool) -> None:
    assert build_parser().parse_args(["serve", *arguments]).watch_config_map is expected


@pytest.mark.parametrize("flag", ["--watch-config-map", "--sts-regional-endpoint", "--in-cluster"])
def test_a_boolean_flag_refuses_a_value_that_is_not_a_boolean(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", f"{flag}=maybe"])

    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--logtostderr"], "--logtostderr=true"),
        (["--logtostderr=false"], "--logtostderr=false"),
        (["--alsologtostderr"], "--alsologtostderr=true"),
        (["-v=4"], "--v=4"),
        (["-v", "4"], "--v=4"),
        (["-v4"], "--v=4"),
        (["--v=2"], "--v=2"),
        (["--v", "2"], "--v=2"),
        (["--vmodule=handler=4"], "--vmodule=handler=4"),
        (["--log_dir=/var/log"], "--log_dir=/var/log"),
        (["--log_file", "/var/log/webhook.log"], "--log_file=/var/log/webhook.log"),
        (["--stderrthreshold=INFO"], "--stderrthreshold=INFO"),
        (["--skip_headers"], "--skip_headers=true"),
        (["--resync-period=60s"], "--resync-period=60s"),
        (["--service-account-lookup-grace-period=100ms"], "--service-account-lookup-grace-period=100ms"),
    ],
)
def test_reference_flag_without_a_counterpart_is_named_in_one_warning(
    arguments: list[str], named: str, caplog: pytest.LogCaptureFixture
) -> None:
    args = reference_command_line(*arguments)

    with caplog.at_level(logging.WARNING, logger="webhook.cli"):
        check_reference_options(args)

    (record,) = caplog.records
    assert "amazon-eks-pod-identity-webhook" in record.getMessage()
    assert named in record.getMessage()


def test_every_ignored_flag_of_one_command_line_shares_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    args = reference_command_line("--logtostderr", "-v=4", "--resync-period=1m")

    with caplog.at_level(logging.WARNING, logger="webhook.cli"):
        check_reference_options(args)

    (record,) = caplog.records
    for named in ("--logtostderr=true", "--v=4", "--resync-period=1m", "--log-level", "watch"):
        assert named in record.getMessage()


@pytest.mark.parametrize(
    "arguments", [[], ["--in-cluster=false"], [flag for flag in REFERENCE_FLAGS if flag != "--logtostderr"]]
)
def test_a_command_line_with_nothing_to_ignore_gets_no_warning_for_it(
    arguments: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    args = reference_command_line(*arguments)

    with caplog.at_level(logging.WARNING, logger="webhook.cli"):
        check_reference_options(args)

    assert caplog.records == []


@pytest.mark.parametrize("arguments", [["--in-cluster"], ["--in-cluster=true"], ["--in-cluster=1"]])
def test_in_cluster_certificates_are_refused_with_what_to_do_instead(arguments: list[str]) -> None:
    args = reference_command_line(*arguments)

    with pytest.raises(
        ConfigurationError, match=r"--in-cluster=false .*--tls-cert/--tls-key.*--tls-mode self"
    ):
        check_reference_options(args)


def test_in_cluster_with_self_managed_certificates_is_accepted() -> None:
    check_reference_options(reference_command_line("--in-cluster", "--tls-mode", "self"))


def test_refused_reference_flag_is_a_one_line_error_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--in-cluster=true", "--port=1", "--service-account-file=/nonexistent"]) == 1

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("pod-identity-webhook: error: --in-cluster=true asks for")


@pytest.mark.parametrize(
    ("first", "printed"), [("--help", "COMMAND"), ("-h", "COMMAND"), ("--version", "pod-identity-webhook 0")]
)
def test_help_and_version_keep_their_meaning_without_a_subcommand(
    first: str, printed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([first])

    assert stopped.value.code == 0
    assert printed in capsys.readouterr().out


def test_version_is_printed_by_the_reference_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(reference_arguments(["--version"], environ={}))

    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("pod-identity-webhook ")
