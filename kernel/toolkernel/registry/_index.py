"""The current tool set: one row per tool, which feeds the FTS5 search index.

Each row carries the text the index sees, per column: the name's words (split on
`_`, `-`, `.` and camelCase), the source's words, the description (and title), and
the parameters' names and descriptions flattened from the input schema.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any, NamedTuple

from toolkernel._spec import ToolSpec
from toolkernel.registry._names import name_key, name_words, sanitize_identifier

__all__ = ["IndexRow", "index_row", "replace_source", "spec_to_json"]

_SCHEMA_DEPTH = 4
"""How many levels of nested `properties` / `items` feed the parameter text."""
_NESTED_KEYS = ("items", "additionalProperties")
_ALTERNATIVE_KEYS = ("anyOf", "oneOf", "allOf", "prefixItems")


class IndexRow(NamedTuple):
    """One `tool_index` row, in column order."""

    source: str
    name: str
    ident: str
    name_key: str
    spec_json: str
    name_text: str
    source_text: str
    desc_text: str
    param_text: str


def index_row(spec: ToolSpec, spec_json: str) -> IndexRow:
    """Build the index row of `spec`, whose JSON form is `spec_json`."""
    words = name_words(spec.name)
    name_text = " ".join(words)
    if len(words) > 1:
        # The run-together form lets `listdir*` find `list_directory`.
        name_text += " " + "".join(words)
    desc_text = " ".join(part for part in (spec.title, spec.description) if part)
    return IndexRow(
        source=spec.source,
        name=spec.name,
        ident=sanitize_identifier(spec.name),
        name_key=name_key(words),
        spec_json=spec_json,
        name_text=name_text,
        source_text=" ".join(name_words(spec.source)),
        desc_text=desc_text,
        param_text=" ".join(_schema_text(spec.input_schema, _SCHEMA_DEPTH)),
    )


def replace_source(conn: sqlite3.Connection, source: str, rows: list[IndexRow]) -> None:
    """Replace every indexed tool of `source` with `rows`; the caller holds a transaction."""
    conn.execute("DELETE FROM tool_index WHERE source = ?", (source,))
    conn.executemany(
        "INSERT INTO tool_index (source, name, ident, name_key, spec_json, name_text,"
        " source_text, desc_text, param_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def spec_to_json(spec: ToolSpec) -> str:
    """Serialize `spec` compactly, as the index and snapshots store it."""
    return json.dumps(spec.to_json(), separators=(",", ":"), ensure_ascii=False)


def _schema_text(schema: Any, depth: int) -> Iterator[str]:
    if depth <= 0 or not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for prop_name, prop in properties.items():
            yield " ".join(name_words(str(prop_name)))
            if isinstance(prop, dict):
                yield from _description(prop)
                yield from _schema_text(prop, depth - 1)
    for key in _NESTED_KEYS:
        yield from _schema_text(schema.get(key), depth - 1)
    for key in _ALTERNATIVE_KEYS:
        options = schema.get(key)
        if isinstance(options, list):
            for option in options:
                yield from _description(option)
                yield from _schema_text(option, depth - 1)


def _description(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key in ("title", "description"):
            value = schema.get(key)
            if isinstance(value, str) and value:
                yield value
