"""Operator mappings from ServiceAccounts to roles, for installers (kOps) that do not annotate them.

The ConfigMap `pod-identity-webhook`, key `config`, holds
`{"ns/sa": {"RoleARN": ..., "Audience": ..., "UseRegionalSTS": true, "TokenExpiration": 0}}`, field names in
any case as the reference reads them; the namespace part may be a glob.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from webhook.engine import go_json
from webhook.errors import ConfigurationError

CONFIG_MAP_NAME = "pod-identity-webhook"
CONFIG_KEY = "config"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleMapping:
    """One entry; None (or a zero expiration) means "not set here, use the flag"."""

    key: str
    role_arn: str
    audience: str | None = None
    use_regional_sts: bool | None = None
    token_expiration: int | None = None


def _specificity(pattern: str) -> tuple[int, int, str]:
    """Sorts the narrowest glob first: more literal characters, then fewer `*`; the text breaks ties, so the
    choice never depends on the ConfigMap's key order."""
    literals = sum(1 for char in pattern if char not in "*?[]")
    return (-literals, pattern.count("*"), pattern)


class RoleMappings:
    """An immutable set of mappings; a watcher replaces the whole object when the ConfigMap changes."""

    __slots__ = ("_exact", "_globs")

    def __init__(self, entries: list[RoleMapping] | None = None) -> None:
        self._exact: dict[tuple[str, str], RoleMapping] = {}
        globs: list[tuple[str, str, RoleMapping]] = []
        for entry in entries or []:
            namespace, _, name = entry.key.partition("/")
            if any(char in namespace for char in "*?["):
                globs.append((namespace, name, entry))
            else:
                self._exact[(namespace, name)] = entry
        globs.sort(key=lambda item: _specificity(item[0]))
        self._globs = tuple(globs)

    def __len__(self) -> int:
        return len(self._exact) + len(self._globs)

    def lookup(self, namespace: str, name: str) -> RoleMapping | None:
        entry = self._exact.get((namespace, name))
        if entry is not None or not self._globs:
            return entry
        for pattern, mapped_name, glob_entry in self._globs:
            if mapped_name == name and fnmatch.fnmatchcase(namespace, pattern):
                return glob_entry
        return None

    @classmethod
    def parse(cls, config: str) -> RoleMappings:
        """Parse the ConfigMap's `config` value; raises ConfigurationError naming the bad entry."""
        try:
            document: Any = go_json.parse(config) if config.strip() else {}
        except ValueError as error:
            raise ConfigurationError(f"role mappings: config is not JSON: {error}") from error
        if not isinstance(document, dict):
            raise ConfigurationError('role mappings: config must be a JSON object keyed by "namespace/name"')
        entries = []
        for key, value in document.items():
            namespace, slash, name = key.partition("/")
            if not slash or not namespace or not name:
                raise ConfigurationError(f'role mappings: key {key!r} is not "namespace/serviceaccount"')
            if not isinstance(value, dict):
                raise ConfigurationError(f"role mappings: entry {key!r} must be an object")
            entries.append(_entry(key, value))
        return cls(entries)


def _entry(key: str, value: dict[str, Any]) -> RoleMapping:
    role_arn = go_json.field(value, "RoleARN") or ""
    audience = go_json.field(value, "Audience") or None
    regional = go_json.field(value, "UseRegionalSTS")
    expiration = go_json.field(value, "TokenExpiration") or None
    if not isinstance(role_arn, str) or not role_arn:
        raise ConfigurationError(f"role mappings: entry {key!r} needs a RoleARN string")
    if audience is not None and not isinstance(audience, str):
        raise ConfigurationError(f"role mappings: entry {key!r}: Audience must be a string")
    if regional is not None and not isinstance(regional, bool):
        raise ConfigurationError(f"role mappings: entry {key!r}: UseRegionalSTS must be true or false")
    if expiration is not None and (isinstance(expiration, bool) or not isinstance(expiration, int)):
        raise ConfigurationError(f"role mappings: entry {key!r}: TokenExpiration must be whole seconds")
    return RoleMapping(
        key=key, role_arn=role_arn, audience=audience, use_regional_sts=regional, token_expiration=expiration
    )
