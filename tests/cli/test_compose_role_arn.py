"""`--compose-role-arn` on the offline commands: the account and partition come from the flags off EC2, or
from the instance metadata (a loopback fake here) when no account is given, as `serve` reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.engine.support import pod
from tests.fake_imds import FakeInstanceMetadata, fake_instance_metadata
from webhook.cli import build_parser, main
from webhook.cli.options import mutation_settings_from
from webhook.engine.settings import RoleArnComposition

SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: checkout, namespace: shop, annotations: {eks.amazonaws.com/role-arn: team/checkout}}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    accounts, manifest = tmp_path / "serviceaccounts.yaml", tmp_path / "pod.yaml"
    accounts.write_text(SERVICE_ACCOUNT)
    original = pod()
    original["metadata"]["namespace"] = "shop"
    original["spec"]["serviceAccountName"] = "checkout"
    manifest.write_text(yaml.safe_dump(original))
    return accounts, manifest


def injected_role(files: tuple[Path, Path], *flags: str, capsys: pytest.CaptureFixture[str]) -> str:
    accounts, manifest = files
    assert main(["inject", "-f", str(manifest), "--service-account-file", str(accounts), *flags]) == 0
    (container,) = yaml.safe_load(capsys.readouterr().out)["spec"]["containers"]
    role: str = next(variable["value"] for variable in container["env"] if variable["name"] == "AWS_ROLE_ARN")
    return role


@pytest.mark.parametrize(
    ("flags", "role"),
    [
        ([], "team/checkout"),
        (
            ["--compose-role-arn", "--compose-account-id=444455556666"],
            "arn:aws:iam::444455556666:role/team/checkout",
        ),
        (
            [
                "--compose-role-arn=true",
                "--compose-account-id",
                "444455556666",
                "--compose-partition",
                "aws-cn",
            ],
            "arn:aws-cn:iam::444455556666:role/team/checkout",
        ),
    ],
)
def test_inject_composes_the_role_arn_from_the_flags_off_ec2(
    files: tuple[Path, Path], flags: list[str], role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert injected_role(files, *flags, capsys=capsys) == role


def test_inject_without_an_account_reads_the_instance_metadata(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {"accountId": "777788889999", "region": "us-gov-west-1"}
    with fake_instance_metadata(FakeInstanceMetadata(document=document)) as fake:
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url)
        role = injected_role(files, "--compose-role-arn", capsys=capsys)

    assert role == "arn:aws-us-gov:iam::777788889999:role/team/checkout"


def test_explain_shows_the_composed_role(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    accounts, manifest = files
    arguments = ["explain", "-f", str(manifest), "--service-account-file", str(accounts), "-o", "json"]

    assert main([*arguments, "--compose-role-arn", "--compose-account-id=444455556666"]) == 0

    (explanation,) = json.loads(capsys.readouterr().out)
    assert "arn:aws:iam::444455556666:role/team/checkout" in explanation["reasons"][0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--compose-account-id=444455556666"],
            "--compose-account-id and --compose-partition need --compose-role-arn",
        ),
        (["--compose-partition=aws-cn"], "need --compose-role-arn"),
        (
            ["--compose-role-arn", "--compose-partition=aws-cn"],
            "--compose-partition needs --compose-account-id",
        ),
        (["--compose-role-arn"], "EC2 instance metadata at http://127.0.0.1:"),
    ],
)
def test_compose_flags_that_cannot_be_honoured_are_a_one_line_error(
    files: tuple[Path, Path], flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts, manifest = files

    assert main(["inject", "-f", str(manifest), "--service-account-file", str(accounts), *flags]) == 1

    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


@pytest.mark.parametrize("account", ["12345", "1234567890123", "11112222333a", "١١١١٢٢٢٢٣٣٣٣"])
def test_an_account_id_is_twelve_ascii_digits(account: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inject", "-f", "-", f"--compose-account-id={account}"])

    assert "12-digit AWS account ID" in capsys.readouterr().err


def test_compose_is_off_by_default_and_reads_nothing() -> None:
    settings = mutation_settings_from(build_parser().parse_args(["inject", "-f", "-"]))

    assert settings.compose_role_arn is None


def test_compose_with_an_account_never_asks_the_instance_metadata() -> None:
    args = build_parser().parse_args(
        ["inject", "-f", "-", "--compose-role-arn", "--compose-account-id=444455556666"]
    )

    assert mutation_settings_from(args).compose_role_arn == RoleArnComposition(
        partition="aws", account_id="444455556666"
    )
