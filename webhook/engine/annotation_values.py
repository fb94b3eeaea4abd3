"""Parsing of annotation values written by people: lenient where the reference is, loud where it is not."""

from __future__ import annotations

import functools
import re

from webhook.engine.settings import MAX_TOKEN_EXPIRATION, MIN_TOKEN_EXPIRATION

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$", re.ASCII)
r"""IAM names are ASCII; without re.ASCII, `\d` and `\w` would also pass digits and letters of other scripts."""


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
"""What the reference's `strconv.ParseInt(value, 10, 64)` reads: no `1_000`, no digits of other scripts."""


def parse_token_expiration(value: str, *, where: str) -> tuple[int | None, str | None]:
    """Read a token-expiration value: (seconds clamped to what the API server accepts, warning or None).

    A value that is not a whole number yields None, so the caller falls back to the next source.
    """
    text = value.strip()
    if _WHOLE_NUMBER.fullmatch(text) is None:
        return None, f"{where}: token expiration {value!r} is not a number of seconds; ignored"
    return clamp_token_expiration(int(text), where=where)


def clamp_token_expiration(seconds: int, *, where: str) -> tuple[int, str | None]:
    """(seconds within the API server's limits, warning or None): it refuses a pod outside them."""
    if seconds < MIN_TOKEN_EXPIRATION:
        return MIN_TOKEN_EXPIRATION, (
            f"{where}: token expiration {seconds}s is below the API server's minimum; using {MIN_TOKEN_EXPIRATION}s"
        )
    if seconds > MAX_TOKEN_EXPIRATION:
        return MAX_TOKEN_EXPIRATION, (
            f"{where}: token expiration {seconds}s is above the API server's maximum; using {MAX_TOKEN_EXPIRATION}s"
        )
    return seconds, None


PARSE_BOOL_TRUE = frozenset(("true", "t", "1"))
PARSE_BOOL_FALSE = frozenset(("false", "f", "0"))
"""The reference reads booleans (annotations and flags) with Go's `strconv.ParseBool`; these are its
spellings, taken here in any case."""


def parse_bool(value: str, *, where: str) -> tuple[bool | None, str | None]:
    """Read "true"/"false" (or "t"/"f", "1"/"0"; any case); anything else is ignored with a warning."""
    text = value.strip().lower()
    if text in PARSE_BOOL_TRUE:
        return True, None
    if text in PARSE_BOOL_FALSE:
        return False, None
    return None, f'{where}: {value!r} is neither "true" nor "false"; ignored'


def parse_name_list(value: str) -> frozenset[str]:
    """A comma-separated list of names, spaces trimmed, empty items dropped."""
    return frozenset(item.strip() for item in value.split(",") if item.strip())


@functools.lru_cache(maxsize=4096)
def _is_role_arn(role_arn: str) -> bool:
    """Cached: admission checks the same few roles on every pod."""
    return _ROLE_ARN.match(role_arn) is not None


def role_arn_warning(role_arn: str, *, where: str) -> str | None:
    """A warning when the role does not look like an IAM role ARN: the SDK would fail at run time."""
    if _is_role_arn(role_arn):
        return None
    return f"{where}: role {role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
