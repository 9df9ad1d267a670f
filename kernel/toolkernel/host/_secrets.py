"""Keeping a tool's declared secrets out of everything it can make the host write.

A secret reaches a script only through its own environment. Whatever comes back (a
result, an error, stderr, a log line, progress, memory writes, arguments of the tools
it calls) may hold it, so the host redacts before it keeps, shows or cuts any text, and
refuses to store or pass a secret on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["REDACTED", "clip", "redact", "secret_in"]

REDACTED = "[redacted]"
_EDGE = 4
"""A cut text that starts or ends with this many characters of a secret is redacted."""


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """Replace every secret value in `text` with `[redacted]`."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            # The value as written, and as it looks inside a JSON string.
            text = text.replace(value, REDACTED)
            text = text.replace(json.dumps(value)[1:-1], REDACTED)
    return text


def clip(text: str, limit: int, secrets: Mapping[str, str], *, keep: str = "head") -> str:
    """`text` redacted, then cut to `limit` characters, keeping its `head` or `tail`.

    Redacting first means a cut can never leave part of a secret behind; a secret the
    text already arrived cut (a capped stderr tail) is caught at the edges.
    """
    text = redact(text, secrets)
    text = text[:limit] if keep == "head" else text[-limit:]
    for value in secrets.values():
        text = _redact_edges(text, value, _EDGE)
    return _redact_edges(text, REDACTED, 2)  # a marker the cut went through, made whole


def secret_in(value: object, secrets: Mapping[str, str]) -> str | None:
    """The name of a secret that `value` (any JSON value) holds, or None."""
    if not any(secrets.values()):
        return None  # most tools declare none: no need to serialise the value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    for name, secret in secrets.items():
        if secret and (secret in text or json.dumps(secret)[1:-1] in text):
            return name
    return None


def _redact_edges(text: str, secret: str, shortest: int) -> str:
    """`text` with a start that ends `secret`, or an end that starts it, redacted."""
    for size in range(len(secret) - 1, shortest - 1, -1):
        if text.startswith(secret[-size:]):
            text = REDACTED + text[size:]
            break
    for size in range(len(secret) - 1, shortest - 1, -1):
        if text.endswith(secret[:size]):
            return text[:-size] + REDACTED
    return text
