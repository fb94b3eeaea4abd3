"""`--compose-role-arn` reads the instance's partition and account from the EC2 instance metadata, IMDSv2,
once; here always from a fake on loopback."""

from __future__ import annotations

import pytest

from tests.fake_imds import DOCUMENT_PATH, TOKEN, FakeInstanceMetadata, fake_instance_metadata
from webhook.aws.instance_metadata import (
    DEFAULT_ENDPOINT,
    IPV6_ENDPOINT,
    instance_role_arn_composition,
    metadata_endpoint,
)
from webhook.engine.settings import RoleArnComposition
from webhook.errors import InstanceMetadataError


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-1", "aws"),
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
    ],
)
def test_the_partition_and_account_come_from_the_identity_document(region: str, partition: str) -> None:
    document = {"accountId": "444455556666", "region": region}
    with fake_instance_metadata(FakeInstanceMetadata(document=document)) as fake:
        composition = instance_role_arn_composition(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": fake.url})

    assert composition == RoleArnComposition(partition=partition, account_id="444455556666")


def test_it_asks_for_a_session_token_first_and_reads_the_document_with_it() -> None:
    with fake_instance_metadata() as fake:
        instance_role_arn_composition(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": fake.url + "/"})

    (put, get) = fake.requests
    assert put[:2] == ("PUT", "/latest/api/token")
    assert int(put[2]["x-aws-ec2-metadata-token-ttl-seconds"]) > 0
    assert get[:2] == ("GET", DOCUMENT_PATH)
    assert get[2]["x-aws-ec2-metadata-token"] == TOKEN


@pytest.mark.parametrize(
    ("fake", "reason"),
    [
        pytest.param(FakeInstanceMetadata(token_status=403), "HTTP 403", id="token-refused"),
        pytest.param(FakeInstanceMetadata(document=b"not json"), "Expecting value", id="document-not-json"),
        pytest.param(FakeInstanceMetadata(document={"region": "eu-west-1"}), "no accountId", id="no-account"),
        pytest.param(FakeInstanceMetadata(document={"accountId": "1", "region": ""}), "no account or region",
                     id="empty-region"),
        pytest.param(FakeInstanceMetadata(document=["a list"]), "list indices", id="document-not-an-object"),
    ],
)  # fmt: skip
def test_an_unusable_answer_is_a_one_line_error_saying_what_to_do_off_ec2(
    fake: FakeInstanceMetadata, reason: str
) -> None:
    with fake_instance_metadata(fake) as running, pytest.raises(InstanceMetadataError) as raised:
        instance_role_arn_composition(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": running.url})

    message = str(raised.value)
    assert reason in message
    assert running.url in message
    assert "\n" not in message


def test_no_metadata_service_is_a_one_line_error_naming_the_flags_to_use_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fake_instance_metadata() as gone:
        url = gone.url

    with pytest.raises(InstanceMetadataError) as raised:
        instance_role_arn_composition(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": url}, timeout=5)

    assert "--compose-account-id" in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("value", ["true", "TRUE", " True "])
def test_metadata_disabled_as_for_the_sdks_is_never_read(value: str) -> None:
    with fake_instance_metadata() as running:
        with pytest.raises(InstanceMetadataError) as raised:
            instance_role_arn_composition(
                environ={"AWS_EC2_METADATA_DISABLED": value, "AWS_EC2_METADATA_SERVICE_ENDPOINT": running.url}
            )
        assert running.requests == []

    assert "AWS_EC2_METADATA_DISABLED=true" in str(raised.value)
    assert "--compose-account-id" in str(raised.value)


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({}, DEFAULT_ENDPOINT),
        ({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}, IPV6_ENDPOINT),
        ({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8111/"}, "http://127.0.0.1:8111"),
        (
            {
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[::1]:8111",
                "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6",
            },
            "http://[::1]:8111",
        ),
    ],
)
def test_the_address_is_found_as_the_aws_sdks_find_it(environ: dict[str, str], endpoint: str) -> None:
    assert metadata_endpoint(environ) == endpoint
