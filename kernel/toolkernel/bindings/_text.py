"""Write arbitrary text into generated source so that it always compiles."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

__all__ = ["clean_text", "comment_safe", "doc_literal", "sentences", "short_json"]


def doc_literal(text: str, *, indent: str = "") -> str:
    """Return a triple-quoted string literal whose value is `text` (plus indentation).

    Backslashes, quotes that could close the literal, and every non-printable
    character (NUL, carriage return, U+2028, lone surrogates) are escaped, so any text
    compiles. Continuation lines are prefixed with `indent`, which `inspect.getdoc`
    (and so `help()`) strips again. A multi-line result ends on its own line.
    """
    escaped = _escape(text)
    lines = escaped.split("\n")
    body = "\n".join([lines[0], *(indent + line if line else "" for line in lines[1:])])
    if len(lines) > 1:
        body += "\n" + indent
    return f'"""{body}"""'


def clean_text(value: Any) -> str:
    """Return a description as docstring text: indentation normalized, "" if not a string.

    Servers often pass a Python docstring through as is, with its continuation lines
    indented; `inspect.cleandoc` removes that so it does not pile onto ours.
    """
    return inspect.cleandoc(value) if isinstance(value, str) else ""


def sentences(parts: list[str]) -> str:
    """Join text parts as sentences: each ends in punctuation, one space apart.

    Servers' descriptions often lack a final period, which would run them into the
    next part ("in seconds Server default: 10"); a period is added where none is.
    """
    return " ".join(_sentence(part) for part in parts if part.strip())


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.rstrip(_CLOSING)[-1:] in _FINAL or text.endswith(":") else text + "."


_FINAL = frozenset(".!?…")
_CLOSING = "\"')]`*»\u201d\u2019"  # closing quotes, brackets and emphasis


def comment_safe(text: str) -> str:
    """Return `text` as it may appear in a `#` comment: its repr, one printable line."""
    return repr(text)


def short_json(value: Any, limit: int = 120) -> str:
    """Render a schema value (a default, an enum member) briefly for a docstring."""
    try:
        text = _JSON.encode(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _escape(text: str) -> str:
    if "\\" not in text and '"' not in text and text.replace("\n", "").isprintable():
        return text  # the common case, and the fast one
    return _NEEDS_ESCAPE.sub(_escape_match, text)


# A backslash, a quote that starts a run of quotes or ends the text (only those can close
# the literal), or any character outside printable ASCII (checked one by one below).
_NEEDS_ESCAPE = re.compile(r'\\|"(?=")|"\Z|[^\n\x20-\x7e]')


def _escape_match(match: re.Match[str]) -> str:
    ch = match.group()
    if ch == "\\":
        return "\\\\"
    if ch == '"':
        return '\\"'
    return ch if ch.isprintable() else repr(ch)[1:-1]
