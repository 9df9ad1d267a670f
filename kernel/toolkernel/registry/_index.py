"""The current tool set: one row per tool, which feeds the FTS5 search index.

Each row carries the tool's identifier (the name its Python binding has, so that
`srv.get_weather` finds `get-weather`) and the text the index sees, per column: the
name's words (split on `_`, `-`, `.` and camelCase), the source's words, the
description (and title), and the parameters' names and descriptions flattened from the
input schema.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any, NamedTuple

from toolkernel._spec import ToolSpec
from toolkernel.bindings._names import tool_identifiers
from toolkernel.registry._names import name_key, name_words

__all__ = ["IndexRow", "index_rows", "reindex_identifiers", "replace_source", "spec_to_json"]

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


def index_rows(specs: list[ToolSpec], specs_json: list[str]) -> list[IndexRow]:
    """Build the index rows of one source's whole tool list, whose JSON forms are given.

    Identifiers are assigned over the whole list, as bindings assign function names: of
    `a_b` and `a-b`, the second is `a_b_2`.
    """
    identifiers = tool_identifiers(spec.name for spec in specs)
    return [
        _index_row(spec, spec_json, identifiers[spec.name])
        for spec, spec_json in zip(specs, specs_json, strict=True)
    ]


def _index_row(spec: ToolSpec, spec_json: str, ident: str) -> IndexRow:
    words = name_words(spec.name)
    name_text = " ".join(words)
    if len(words) > 1:
        # The run-together form lets `listdir*` find `list_directory`.
        name_text += " " + "".join(words)
    desc_text = " ".join(part for part in (spec.title, spec.description) if part)
    return IndexRow(
        source=spec.source,
        name=spec.name,
        ident=ident,
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


def reindex_identifiers(conn: sqlite3.Connection) -> None:
    """Give every indexed tool the identifier `index_rows` gives it now (a migration).

    Registries written before the identifier was the binding's name hold another one
    (`2fa_check` for `2fa.check`, whose binding is `_2fa_check`).
    """
    by_source: dict[str, list[tuple[int, str]]] = {}
    for row_id, source, name in conn.execute("SELECT id, source, name FROM tool_index"):
        by_source.setdefault(source, []).append((row_id, name))
    for rows in by_source.values():
        identifiers = tool_identifiers(name for _, name in rows)
        conn.executemany(
            "UPDATE tool_index SET ident = ? WHERE id = ? AND ident != ?",
            [(identifiers[name], row_id, identifiers[name]) for row_id, name in rows],
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
