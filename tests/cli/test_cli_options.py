"""Flags and their environment variables: the same names as the reference, and one-line errors."""

from __future__ import annotations

import pytest

from tests.integration.server_process import free_ports
from webhook.cli import build_parser, main
from webhook.cli.options import mutation_settings_from


def test_environment_variable_sets_a_flag_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_AWS_DEFAULT_REGION", "eu-north-1")
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_STS_REGIONAL_ENDPOINT", "true")

    settings = mutation_settings_from(build_parser().parse_args(["inject", "-f", "-"]))

    assert (settings.aws_default_region, settings.sts_regional_endpoint) == ("eu-north-1", True)


def test_command_line_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_TOKEN_AUDIENCE", "from-env")

    args = build_parser().parse_args(["inject", "-f", "-", "--token-audience", "from-flag"])

    assert mutation_settings_from(args).token_audience == "from-flag"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("POD_IDENTITY_WEBHOOK_PORT", "https", "POD_IDENTITY_WEBHOOK_PORT='https'"),
        ("POD_IDENTITY_WEBHOOK_LOG_FORMAT", "xml", "choose from json, text"),
        ("POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION", "1h", "expected a whole number of seconds"),
    ],
)
def test_bad_environment_variable_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)

    assert main(["serve"]) == 1

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert message in error


@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["inject", "--help"]])
def test_a_bad_environment_variable_does_not_break_help_or_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION", "1h")

    with pytest.raises(SystemExit) as exit_info:
        main(arguments)

    assert exit_info.value.code == 0
    assert capsys.readouterr().out


def test_the_command_line_beats_a_bad_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION", "1h")
    monkeypatch.setenv("POD_IDENTITY_WEBHOOK_LOG_FORMAT", "xml")

    args = build_parser().parse_args(["serve", "--token-expiration", "3600", "--log-format", "text"])

    assert (args.token_expiration, args.log_format) == (3600, "text")


@pytest.mark.parametrize(
    "arguments",
    [
        ["--api-fallback-timeout", "inf"],
        ["--api-fallback-timeout", "nan"],
        ["--token-expiration", "1h"],
        ["--port", "0"],
        ["--metrics-port", "70000"],
        ["--api-fallback-timeout", "-1"],
        ["--max-request-bytes", "0"],
    ],
)
def test_out_of_range_or_malformed_flag_is_refused(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", *arguments])

    assert exit_info.value.code == 2
    assert arguments[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "used", "warning"),
    [
        pytest.param("300", 600, "below the API server's minimum; using 600s", id="below-minimum"),
        pytest.param(str(2**32 + 1), 2**32, "above the API server's maximum", id="above-maximum"),
        pytest.param("600", 600, None, id="exactly-minimum"),
        pytest.param("3600", 3600, None, id="in-range"),
    ],
)
def test_token_expiration_flag_is_clamped_like_the_reference(
    given: str, used: int, warning: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    args = build_parser().parse_args(["inject", "-f", "-", "--token-expiration", given])

    assert mutation_settings_from(args).token_expiration == used
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert warnings[0].startswith("--token-expiration: ")
        assert warning in warnings[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--service-account-file", "examples/serviceaccounts.yaml", "--find-missed-credentials"],
            "--find-missed-credentials needs a cluster; it cannot be used with --service-account-file",
        ),
        (
            ["--service-account-file", "examples/serviceaccounts.yaml", "--repair-missed-credentials"],
            "--repair-missed-credentials repairs what --find-missed-credentials finds: set both",
        ),
    ],
    ids=["find-without-a-cluster", "repair-without-find"],
)
def test_missed_credentials_flags_that_cannot_work_stop_the_start(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    port, metrics_port = free_ports(2)

    status = main(
        [
            "serve",
            "--bind-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            *flags,
        ]
    )

    assert status == 1
    assert capsys.readouterr().err == f"pod-identity-webhook: error: {message}\n"
