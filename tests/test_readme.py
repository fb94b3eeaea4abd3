"""The README is the operator's reference: it must name every flag and metric the code has."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from webhook import metrics
from webhook.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option for action in parser._actions for option in action.option_strings if option.startswith("--")
    ]


COMMANDS = _subparsers(build_parser())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_readme_names_every_subcommand(command: str) -> None:
    assert f"`{command}" in README


@pytest.mark.parametrize("flag", sorted(set(_flags(COMMANDS["serve"])) - {"--help"}))
def test_readme_documents_every_serve_flag(flag: str) -> None:
    assert f"`{flag}`" in README


@pytest.mark.parametrize("flag", sorted(set(_flags(COMMANDS["inject"])) - {"--help"}))
def test_readme_documents_every_inject_flag(flag: str) -> None:
    assert f"`{flag}`" in README or flag in README


@pytest.mark.parametrize(
    "metric",
    sorted(
        family.name
        for family in metrics.REGISTRY.collect()
        if family.name.startswith("pod_identity_webhook_")
    ),
)
def test_readme_documents_every_metric(metric: str) -> None:
    assert f"`{metric}" in README
