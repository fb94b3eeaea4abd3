"""The README's "Switching from amazon-eks-pod-identity-webhook" table, held row by row against the code: it
lists exactly the reference's command line (SPEC §5), and what each row says of a flag is what the compatible
entry point (`/webhook`) does with it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tests.reference_manifest import KLOG_FLAGS, REFERENCE_COMMAND_LINE
from webhook.cli import build_parser
from webhook.cli.reference_compat import IGNORED_FLAGS, reference_arguments

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Switching from") : README.index("## Endpoints")]
ROW = re.compile(r"^\| `(--[\w-]+)` \| `([^`]*)` \| (.+) \|$", re.MULTILINE)
ROWS = {flag: (default.strip('"'), here) for flag, default, here in ROW.findall(SECTION)}
"""flag: (the reference's default, what the row says of it here); `""` is the empty default."""
KLOG_ROW = next(line for line in SECTION.splitlines() if line.startswith("| klog's"))


def compat_defaults() -> argparse.Namespace:
    return build_parser().parse_args(reference_arguments([], environ={}))


def as_text(value: object) -> str:
    """A parsed value as the reference's flag documentation writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def test_the_table_lists_exactly_the_references_command_line_with_its_defaults() -> None:
    assert [(flag, default) for flag, (default, _) in ROWS.items()] == list(REFERENCE_COMMAND_LINE)


def test_the_klog_row_names_every_klog_flag_and_they_are_all_ignored() -> None:
    ignored = {f"--{flag.name}" for flag in IGNORED_FLAGS}
    for flag in KLOG_FLAGS:
        assert f"`{flag}`" in KLOG_ROW or f"`-v`/`{flag}`" in KLOG_ROW
        assert flag == "-v" or flag in ignored
    assert "ignored" in KLOG_ROW


@pytest.mark.parametrize(
    "flag", [flag for flag, (_, here) in ROWS.items() if here.startswith("same") and flag != "--version"]
)
def test_a_row_that_says_same_has_the_references_default(flag: str) -> None:
    reference_default, _ = ROWS[flag]

    assert as_text(getattr(compat_defaults(), dest(flag))) == reference_default


@pytest.mark.parametrize("flag", [flag for flag, (_, here) in ROWS.items() if here.startswith("default `")])
def test_a_row_that_names_another_default_has_that_default(flag: str) -> None:
    _, here = ROWS[flag]
    stated = here.removeprefix("default `").split("`", 1)[0]

    assert as_text(getattr(compat_defaults(), dest(flag))) == stated


@pytest.mark.parametrize("flag", [flag for flag, (_, here) in ROWS.items() if here.startswith("differs")])
def test_a_row_that_says_differs_has_another_default(flag: str) -> None:
    reference_default, _ = ROWS[flag]

    assert as_text(getattr(compat_defaults(), dest(flag))) != reference_default


@pytest.mark.parametrize("flag", list(ROWS))
def test_a_row_says_ignored_exactly_when_the_flag_is_ignored(flag: str) -> None:
    _, here = ROWS[flag]
    ignored = {f"--{ignored.name}": ignored.why for ignored in IGNORED_FLAGS}

    assert here.startswith("ignored") == (flag in ignored)
    if flag in ignored:
        assert ignored[flag] in here.replace("`", "")


def test_every_row_is_one_of_the_four_kinds() -> None:
    for flag, (_, here) in ROWS.items():
        assert here.startswith(("same", "default `", "differs", "ignored")), flag


def test_the_entry_point_defaults_the_section_names_are_the_compat_defaults() -> None:
    args = compat_defaults()

    assert (args.port, args.tls_cert, args.tls_key) == (
        443,
        "/etc/webhook/certs/tls.crt",
        "/etc/webhook/certs/tls.key",
    )
    for text in ("`443`", "`/etc/webhook/certs/tls.crt`", "`/etc/webhook/certs/tls.key`"):
        assert text in SECTION.split("| reference flag |")[0]
