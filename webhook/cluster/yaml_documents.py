"""YAML files as operators write them, read into plain data, with any failure as one line.

Everything that reads a manifest file reads it here: the ServiceAccount file, the mappings ConfigMap, and the
offline subcommands' input.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import MarkedYAMLError
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


MAX_NODES_PER_CHARACTER = 10
"""How far aliases may expand a document: a billion-laughs file of a few lines would otherwise take all
memory once its aliases are copied out. Without aliases a document has fewer nodes than characters."""


_NESTED_TOO_DEEPLY = "nested too deeply"


def load_all(text: str) -> list[Any]:
    """Every document in `text`, an empty one as None; if one is not YAML, a one-line ValueError that starts
    "document N" (from 1), for the caller to put after the file's name."""
    documents: list[Any] = []
    copier = _Unsharer(limit=MAX_NODES_PER_CHARACTER * len(text) + 1000)
    try:
        for document in yaml.load_all(text, Loader=_LOADER):
            documents.append(copier.copy(document))
    except (yaml.YAMLError, ValueError) as error:
        raise ValueError(f"document {len(documents) + 1}: not valid YAML: {_one_line(error)}") from error
    except RecursionError as error:
        raise ValueError(f"document {len(documents) + 1}: not valid YAML: {_NESTED_TOO_DEEPLY}") from error
    return documents


_LIBYAML_DEPTH_LIMIT = "exceeded maximum nesting depth"
"""libyaml 0.2.6 (in PyYAML 6.0.4's wheels) stops at 1,000 levels of flow nesting before PyYAML's composer
would; both are the same fault to an operator, so both are said the same way."""


def _one_line(error: yaml.YAMLError | ValueError) -> str:
    """PyYAML's messages span several lines with a caret diagram. ValueError: an integer over 4,300 digits."""
    if isinstance(error, MarkedYAMLError) and error.problem == _LIBYAML_DEPTH_LIMIT:
        mark = error.problem_mark
        return _NESTED_TOO_DEEPLY + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark else "")
    return " ".join(str(error).replace('in "<unicode string>",', "at").split())


class _Unsharer:
    """Makes every use of a YAML alias its own copy.

    PyYAML gives each use of an anchor the same object, so changing one pod in place would change every other
    use of it too, in another container or another workload. `copy.deepcopy` would keep that sharing.
    """

    def __init__(self, *, limit: int) -> None:
        self._left = limit

    def copy(self, node: Any) -> Any:
        self._left -= 1
        if self._left < 0:
            raise ValueError("its aliases expand to more nodes than a file of its size can hold")
        if isinstance(node, dict):
            return {key: self.copy(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.copy(value) for value in node]
        return node
