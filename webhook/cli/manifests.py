"""Manifests in and out of the offline subcommands: a file or stdin, multi-document YAML or JSON.

What comes out must mean to kubectl what went in. kubectl reads YAML with go-yaml, which takes more plain
scalars for booleans and numbers than PyYAML does (`y`, `1e3`, `0o17`), so strings of those forms are quoted.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.cluster import yaml_documents
from webhook.errors import ConfigurationError

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True, slots=True)
class Manifests:
    documents: list[Any]
    positions: list[int]
    """Each document's place in the input, counting the empty ones (`helm template` writes some)."""
    json: bool
    """Written as JSON, so output should be JSON too."""
    json_array: bool
    """A JSON array of objects rather than one object or a stream of them."""


def read_manifests(filename: str) -> Manifests:
    """Every document in `filename` (`-` for stdin); errors are one line, as the CLI promises."""
    text = read_text(filename)
    start = text.lstrip()[:1]
    if start in ("{", "["):
        try:
            documents = list(_json_documents(text))
        except ValueError:
            pass  # YAML in flow style, which starts the same way
        else:
            array = start == "[" and len(documents) == 1 and isinstance(documents[0], list)
            documents = documents[0] if array else documents
            return Manifests(documents, list(range(len(documents))), json=True, json_array=array)
    try:
        loaded = yaml_documents.load_all(text)
    except ValueError as error:
        raise ConfigurationError(f"{filename}, {error}") from error
    present = [(position, document) for position, document in enumerate(loaded) if document is not None]
    return Manifests(
        [document for _, document in present],
        [position for position, _ in present],
        json=False,
        json_array=False,
    )


def read_text(filename: str) -> str:
    """The whole of `filename` (`-` for stdin) as UTF-8, a byte-order mark dropped; ConfigurationError if not."""
    try:
        raw = sys.stdin.buffer.read() if filename == "-" else Path(filename).read_bytes()
    except OSError as error:
        raise ConfigurationError(f"cannot read {filename}: {error.strerror}") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"{filename}: not UTF-8 text (byte {error.start})") from error


def write_yaml(documents: list[Any]) -> str:
    return yaml.dump_all(
        documents,
        Dumper=_KubectlDumper,
        sort_keys=False,
        allow_unicode=True,
        explicit_start=len(documents) > 1,
    )


def _json_documents(text: str) -> Iterator[Any]:
    """One JSON value, or a stream of them (`jq -c '.items[]'` writes one per line; kubectl reads that)."""
    decoder = json.JSONDecoder()
    position = _after_whitespace(text, 0)
    while position < len(text):
        try:
            document, position = decoder.raw_decode(text, position)
        except RecursionError as error:
            raise ValueError("nested too deeply") from error
        yield document
        position = _after_whitespace(text, position)


def _after_whitespace(text: str, position: int) -> int:
    return _JSON_WHITESPACE.match(text, position).end()  # type: ignore[union-attr]  # `*` always matches


class _KubectlDumper(_DUMPER):  # type: ignore[misc, valid-type]
    """Quotes every string go-yaml (YAML 1.1 as kubectl reads it) or YAML 1.2 would read as another type."""


# Booleans go-yaml v2 knows beyond PyYAML's; numbers in Go's ParseInt(base 0) and ParseFloat forms.
_KubectlDumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^[yYnN]$"), list("yYnN"))
_KubectlDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)
_KubectlDumper.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?0[xXoObB][0-9a-fA-F_]+$"), list("-+0")
)
