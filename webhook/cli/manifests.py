"""Reading manifests for the offline subcommands: a file or stdin, multi-document YAML or JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Manifests:
    documents: list[Any]
    json: bool
    """Written as JSON, so output should be JSON too."""
    json_array: bool
    """A JSON array of objects rather than one object."""


def read_manifests(filename: str) -> Manifests:
    """Every document in `filename` (`-` for stdin); errors are one line, as the CLI promises."""
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read {filename}: {error.strerror}") from error
    start = text.lstrip()[:1]
    try:
        if start in ("{", "["):
            document = json.loads(text)
            documents = document if isinstance(document, list) else [document]
        else:
            documents = [document for document in yaml.safe_load_all(text) if document is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        # PyYAML's messages span several lines with a caret diagram.
        raise ConfigurationError(f"{filename}: not YAML or JSON: {' '.join(str(error).split())}") from error
    return Manifests(documents=documents, json=start in ("{", "["), json_array=start == "[")
