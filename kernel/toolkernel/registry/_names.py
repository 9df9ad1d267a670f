"""Tool names as words, shared by the index, search and lookup.

A tool's identifier (`get_weather` for `get-weather`) is not made here: it is the name
its binding has, from `toolkernel.bindings._names.tool_identifiers`.
"""

from __future__ import annotations

import re

__all__ = ["name_key", "name_words", "safe_text"]

_CAMEL_LOWER_UPPER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL_ACRONYM = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
# Word characters without the underscore: letters and digits of any script.
_WORD = re.compile(r"[^\W_]+")


def name_words(text: str) -> list[str]:
    """Split a name or phrase into lowercase words.

    Underscores, hyphens, dots, spaces and other punctuation separate words, and so do
    camelCase humps: `readFile` gives `["read", "file"]` and `HTTPServer` gives
    `["http", "server"]`.
    """
    spaced = _CAMEL_ACRONYM.sub(" ", _CAMEL_LOWER_UPPER.sub(" ", text))
    return [word.lower() for word in _WORD.findall(spaced)]


def name_key(words: list[str]) -> str:
    """Return the spelling-independent key of a name: its words joined by `_`.

    `readFile`, `read-file` and `READ_FILE` share the key `read_file`, and so does the
    query `read a file` once its stop-words are gone.
    """
    return "_".join(words)


def safe_text(text: str) -> str:
    """Return `text` with anything SQLite cannot take (lone surrogates) replaced by `?`."""
    return text.encode("utf-8", "replace").decode("utf-8")
