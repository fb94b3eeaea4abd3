"""The reference's JSON configuration, read as its Go `encoding/json` reads it.

Operators move ConfigMaps and files written for amazon-eks-pod-identity-webhook over unchanged, so they must
mean the same here. Go matches an object's keys to struct fields ignoring case (`roleArn` fills `RoleARN`),
and a document it cannot read is one error, whatever made it unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def parse(text: str) -> Any:
    """The document in `text`; ValueError for anything that is not JSON.

    `json.loads` has two failures that are not `JSONDecodeError`: an integer over 4,300 digits (ValueError)
    and nesting deeper than the interpreter's recursion limit (RecursionError). Both become ValueError, so a
    caller that keeps its last good configuration on a bad one catches them all.
    """
    try:
        return json.loads(text)
    except RecursionError as error:
        raise ValueError("nested too deeply") from error


def field(document: Mapping[str, Any], name: str) -> Any:
    """The value Go decodes into the struct field `name`, or None.

    A key equal to `name` ignoring case fills the field; when several do, Go decodes them in order and the
    last one stays.
    """
    folded = name.casefold()
    value = None
    for key, item in document.items():
        if key.casefold() == folded:
            value = item
    return value
