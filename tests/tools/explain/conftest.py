"""Fixtures of the `explain` tests: manifests written to files and `explain` run on them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_apiserver import fake_apiserver_fixture, fake_kubeconfig_fixture  # noqa: F401 - fixtures
from webhook.cli import main

Explain = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, Sequence[Any]], Path]:
    def write(name: str, documents: Sequence[Any]) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def explain_json(
    write_yaml: Callable[[str, Sequence[Any]], Path], capsys: pytest.CaptureFixture[str]
) -> Explain:
    """Run `explain -o json` on manifests with ServiceAccounts from a file; the parsed explanations."""

    def run(
        manifests: Sequence[Any], *, service_accounts: Sequence[Any] = (), args: Sequence[str] = ()
    ) -> Any:
        manifest_file = write_yaml("manifests.yaml", manifests)
        accounts_file = write_yaml("serviceaccounts.yaml", service_accounts)
        status = main(["explain", "-f", str(manifest_file), "--service-account-file", str(accounts_file),
                       "-o", "json", *args])  # fmt: skip
        captured = capsys.readouterr()
        assert status == 0, captured.err
        return json.loads(captured.out)

    return run
