"""YAML files as operators write them, read into plain data, with any failure as one line.

Everything that reads a manifest file reads it here: the ServiceAccount file, the mappings ConfigMap, and the
offline subcommands' input.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml
    _LOADER: type = yaml.SafeLoader
else:

    class _LibyamlEventsLoader(Composer, CParser, SafeConstructor, Resolver):
        """libyaml's parser, about five times as fast as PyYAML's, under PyYAML's own composer.

        libyaml's composer recurses in C with no depth limit, so a document nested some 50,000 deep
        crashes the interpreter; PyYAML's stops at the recursion limit with RecursionError.
        """

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _LOADER = _LibyamlEventsLoader


def load_all(text: str) -> list[Any]:
    """Every document in `text`, an empty one as None; if one is not YAML, a one-line ValueError that starts
    "document N" (from 1), for the caller to put after the file's name."""
    documents: list[Any] = []
    try:
        for document in yaml.load_all(text, Loader=_LOADER):
            documents.append(_unshared(document))
    except (yaml.YAMLError, ValueError) as error:
        # PyYAML's messages span several lines with a caret diagram. ValueError: an integer over 4,300 digits.
        message = " ".join(str(error).replace('in "<unicode string>",', "at").split())
        raise ValueError(f"document {len(documents) + 1}: not valid YAML: {message}") from error
    except RecursionError as error:
        raise ValueError(f"document {len(documents) + 1}: not valid YAML: nested too deeply") from error
    return documents


def _unshared(node: Any) -> Any:
    """The document with every YAML alias made its own copy.

    PyYAML gives each use of an anchor the same object, so changing one pod in place would change every other
    use of it too, in another container or another workload. `copy.deepcopy` would keep that sharing.
    """
    if isinstance(node, dict):
        return {key: _unshared(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_unshared(value) for value in node]
    return node
