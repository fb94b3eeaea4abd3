"""The annotation and label names the webhook reads, and the keys a person may have meant for one of them.

A misspelt key is silently ignored by the mutation, which is what makes it costly: `explain` names the
near misses on a pod and its ServiceAccount, and the ServiceAccount warnings name them when the
ServiceAccount is written, both with this one detection.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

SERVICE_ACCOUNT_ANNOTATIONS = ("role-arn", "audience", "sts-regional-endpoints", "token-expiration")
POD_ANNOTATIONS = ("skip-containers", "token-expiration")
POD_LABELS = ("skip-pod-identity-webhook",)
WEBHOOK_LABELS = ("pod-identity",)
"""Labels the webhook itself sets (Pod Identity mode): under the prefix, but never a typo."""
ROLE_ARN_VALUE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/")
"""A value that starts like a role ARN: found under another key, it was meant as the role."""
_SIMILAR = 0.8
"""difflib ratio above which two annotation names, or two prefixes, are taken for a typo of each other."""
_SIMILAR_UNDER_PREFIX = 0.7
"""The same, for a key under the webhook's own prefix: it can only be meant for the webhook."""


def near_misses(
    keys: Iterable[str], *, prefix: str, names: Sequence[str], known: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """(key found, key meant) for each key that is probably a typo of `<prefix>/<name>`.

    Under the prefix itself every key is suspect, so a looser likeness is enough (`token-expiry`). Under
    another prefix the name must be the wanted one (another webhook's prefix, a different
    `--annotation-prefix`, wrong case) or the prefix close to the wanted one as well (`eks.amazon.com`).
    Keys `<prefix>/<known>` are correct uses of the prefix for something else.
    """
    found = []
    for key in keys:
        key_prefix, _, key_name = key.rpartition("/")
        if key_prefix == prefix and (key_name in names or key_name in known):
            continue
        normalised = key_name.strip().lower().replace("_", "-")
        same_prefix = key_prefix.strip().lower() == prefix.lower()
        if normalised in names:
            found.append((key, f"{prefix}/{normalised}"))
        elif (
            same_prefix
            or difflib.SequenceMatcher(None, key_prefix.lower(), prefix.lower()).ratio() >= _SIMILAR
        ):
            cutoff = _SIMILAR_UNDER_PREFIX if same_prefix else _SIMILAR
            closest = difflib.get_close_matches(normalised, names, n=1, cutoff=cutoff)
            if closest:
                found.append((key, f"{prefix}/{closest[0]}"))
    return found


def serviceaccount_annotation_notes(annotations: Mapping[str, str], *, prefix: str) -> list[str]:
    """What a ServiceAccount's annotations say that the webhook will not read: keys one typo away from
    its own, and role ARNs under a key other than the role's."""
    role_key = f"{prefix}/role-arn"
    typos = near_misses(annotations, prefix=prefix, names=SERVICE_ACCOUNT_ANNOTATIONS)
    notes = [
        f"the ServiceAccount's annotation {found} is not read: did you mean {meant}?"
        for found, meant in typos
    ]
    misplaced = {found for found, _ in typos}
    notes += [
        f"the ServiceAccount's annotation {key} holds a role ARN, but the role is read only from {role_key}"
        for key, value in annotations.items()
        if key != role_key and key not in misplaced and ROLE_ARN_VALUE.match(value.strip())
    ]
    return notes
