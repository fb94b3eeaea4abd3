"""The benchmark keeps working: a seconds-long smoke run of `python -m benchmarks.run` on the real server,
the Go comparator (built, checked to give our patch, and measured) and the baseline.

Only that it measures and reports is asserted, never how fast anything was.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.handler_budget import SPIN_LADDER_US
from benchmarks.inputs import NAMES
from benchmarks.measure import SMOKE

SECTIONS = (
    "## Inputs",
    "## Targets",
    "## Figures",
    "## Sizing",
    "## What reading a review costs",
    "## On our own review path",
    "## What the CPU target leaves for the handler",
    "## Load generator check",
    "## ServiceAccount cache",
    "## Admission latency through the API server",
    "## Method",
)


@pytest.fixture(scope="module")
def smoke(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(what the run printed, the report it wrote)."""
    written = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--write", str(written)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, written.read_text()


def table_rows(report: str, heading: str) -> list[list[str]]:
    section = report.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_smoke_run_writes_the_report_it_prints(smoke: tuple[str, str]) -> None:
    printed, written = smoke
    assert written.strip() in printed


@pytest.mark.parametrize("heading", SECTIONS)
def test_report_has_section(smoke: tuple[str, str], heading: str) -> None:
    assert heading in smoke[1]


def test_every_figure_was_measured_for_every_server(smoke: tuple[str, str]) -> None:
    rows = table_rows(smoke[1], "## Figures")
    assert len(rows) > 10
    for label, go, ours, baseline, to_go, to_baseline in rows:
        assert "n/a" not in (go, ours, baseline, to_go, to_baseline), label


def test_the_targets_are_set_against_the_go_comparator_and_the_parse_floor(smoke: tuple[str, str]) -> None:
    targets = [row[0] for row in table_rows(smoke[1], "## Targets")]

    assert any("Go comparator" in target for target in targets)
    assert any("parse floor" in target for target in targets)
    assert not any("baseline" in target for target in targets)


def test_sizing_is_given_for_every_rate(smoke: tuple[str, str]) -> None:
    rows = table_rows(smoke[1], "## Sizing")

    assert [row[0] for row in rows] == [f"{rate} req/s" for rate in SMOKE.rates]
    assert all(cell != "n/a" for row in rows for cell in row[1:])


@pytest.mark.parametrize("name", NAMES)
def test_every_input_is_saturated(smoke: tuple[str, str], name: str) -> None:
    labels = [row[0] for row in table_rows(smoke[1], "## Figures")]
    assert f"saturation, {name} (req/s)" in labels
    assert f"CPU per admission at saturation, {name} (µs)" in labels


def test_every_target_gets_a_verdict(smoke: tuple[str, str]) -> None:
    rows = table_rows(smoke[1], "## Targets")
    assert len(rows) >= 7
    assert all(result in ("pass", "**FAIL**", "n/a") for _target, _measured, result in rows)


def test_no_request_failed(smoke: tuple[str, str]) -> None:
    assert "Failed, non-200 or unanswered requests across all runs: 0." in smoke[1]


def test_parse_floor_is_measured_for_every_review(smoke: tuple[str, str]) -> None:
    rows = table_rows(smoke[1], "## What reading a review costs")

    assert [row[0] for row in rows] == list(NAMES)
    assert all(cell != "n/a" for row in rows for cell in row[1:])


def test_handler_budget_is_measured_for_every_busy_wait(smoke: tuple[str, str]) -> None:
    heading = "## What the CPU target leaves for the handler"
    rows = table_rows(smoke[1], heading)

    assert [row[0] for row in rows] == [
        "none (the baseline)",
        *(f"busy-waits {spin:g} µs" for spin in SPIN_LADDER_US),
        "reads the review's JSON through, builds nothing",
        "decodes the review (parse floor)",
    ]
    assert all(cell != "n/a" for row in rows for cell in row[1:3])
    assert "decoder alone takes" in smoke[1].split(heading, 1)[1].split("\n## ", 1)[0]


def test_pods_went_through_the_api_server_under_every_configuration(smoke: tuple[str, str]) -> None:
    """Both webhooks were called by the real API server, and only ours stored credentials in the pods."""
    heading = "## Admission latency through the API server"
    waits, creations, ratios = _tables(smoke[1], heading)

    assert [row[0] for row in waits] == ["pod-identity-webhook", "baseline (allows, no patch)"]
    assert all(int(calls) > 0 for _label, calls, *_rest in waits)
    stored = {row[0]: int(row[1]) for row in creations}
    assert stored["pod-identity-webhook"] > 0
    assert stored["baseline (allows, no patch)"] == stored["none"] == 0
    assert all(cell != "n/a" for row in creations for cell in row[2:4])
    assert len(ratios) == 4


def _tables(report: str, heading: str) -> list[list[list[str]]]:
    """Each markdown table of one section, as rows of cells without the header."""
    section = report.split(heading, 1)[1].split("\n## ", 1)[0]
    tables: list[list[list[str]]] = []
    previous_was_row = False
    for line in section.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous_was_row:
            tables.append([])
        elif is_row and not line.startswith("|---"):
            tables[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous_was_row = is_row
    return tables


def test_the_load_generator_was_checked_on_every_server(smoke: tuple[str, str]) -> None:
    rows = table_rows(smoke[1], "## Load generator check")

    assert [row[0] for row in rows] == ["baseline", "pod-identity-webhook", "Go comparator"]


def test_the_header_names_the_go_release_of_the_comparator(smoke: tuple[str, str]) -> None:
    assert "| Go comparator | go1." in smoke[1]
