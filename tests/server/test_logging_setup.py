"""Log lines are what operators search: JSON lines carry the request's context as fields of their own."""

from __future__ import annotations

import json
import logging

import pytest

from webhook.server.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    """configure_logging owns the process's root logger; give the next test back the one it had."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_log_line_carries_context_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="json", level="info")

    logging.getLogger("webhook.test").warning(
        "pod %s: %s", "default/app", "mount conflict", extra={"namespace": "default", "pod": "app"}
    )

    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["level"] == "warning"
    assert entry["logger"] == "webhook.test"
    assert entry["message"] == "pod default/app: mount conflict"
    assert (entry["namespace"], entry["pod"]) == ("default", "app")


def test_text_log_level_filters_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", level="info")

    logging.getLogger("webhook.test").debug("hidden")
    logging.getLogger("webhook.test").info("shown")

    err = capsys.readouterr().err
    assert "shown" in err
    assert "hidden" not in err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_pod_name_with_line_breaks_cannot_forge_a_log_line(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Admission sees a pod before the API server validates its name."""
    configure_logging(log_format=log_format, level="info")
    forged = "app\n2026-11-23 20:40:00,000 ERROR   webhook.server: FORGED\r\x1b[2K"

    logging.getLogger("webhook.test").warning("pod %s: mount conflict", forged)

    (line,) = capsys.readouterr().err.splitlines()
    assert "FORGED" in line
    assert "\x1b" not in line
