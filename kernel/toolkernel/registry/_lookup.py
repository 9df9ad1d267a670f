"""Lookups in the current tool set: list, get by qualified name, exact name matches."""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Collection, Iterator

from toolkernel._spec import ToolSpec
from toolkernel.bindings._names import source_identifier
from toolkernel.errors import ToolNotFound
from toolkernel.registry._names import name_words, safe_text

__all__ = [
    "ExactMatch",
    "exact_matches",
    "find_tool",
    "list_tools",
    "not_found",
    "original_sources",
    "sources_param",
]

_MAX_SPLITS = 8
"""How many `.` positions of a qualified name are tried as the source/tool boundary."""
_MAX_LISTED = 10
"""How many known sources a `ToolNotFound` message names."""

# `:sources` is a JSON list of source names, or NULL for every source.
_EXACT_NAME = """
    SELECT id, spec_json FROM tool_index
    WHERE (name = :tool OR ident = :tool) AND (:source IS NULL OR source = :source)
    AND (:sources IS NULL OR source IN (SELECT value FROM json_each(:sources)))
"""
_EXACT_KEY = """
    SELECT id, spec_json FROM tool_index
    WHERE name_key IN (SELECT value FROM json_each(:keys))
    AND (:sources IS NULL OR source IN (SELECT value FROM json_each(:sources)))
"""

ExactMatch = tuple[int, str, int]
"""An exact name match: (row id, spec JSON, tier); tier 2 is the name, 1 is its key."""


def sources_param(sources: Collection[str] | None) -> str | None:
    """Return `sources` as the JSON list the `json_each` filters take, or None for all."""
    if sources is None:
        return None
    if isinstance(sources, str):
        sources = [sources]
    return json.dumps(sorted({safe_text(source) for source in sources}))


def list_tools(conn: sqlite3.Connection, sources: str | None) -> list[ToolSpec]:
    """Return the tools of `sources` (a `sources_param` value), sorted by (source, name)."""
    rows = conn.execute(
        "SELECT spec_json FROM tool_index"
        " WHERE :sources IS NULL OR source IN (SELECT value FROM json_each(:sources))"
        " ORDER BY source, name",
        {"sources": sources},
    )
    return [ToolSpec.from_json(json.loads(row[0])) for row in rows]


def find_tool(conn: sqlite3.Connection, qualified_name: str) -> ToolSpec | None:
    """Return the tool `server.tool`; either part may be spelled as in Python.

    The source may be its attribute under `tools` (`my_server` for `my-server`) and the
    tool its binding's name (`get_weather_2` for the second of `get_weather` and
    `get-weather`). A source or tool name may itself hold dots, so each dot is tried as
    the boundary. Original names win over another source's or tool's Python name.
    """
    splits = list(_splits(safe_text(qualified_name)))
    for source, tool in splits:
        spec = _find_in_source(conn, source, tool)
        if spec is not None:
            return spec
    python_names = _python_sources(conn)
    for source, tool in splits:
        for original in python_names.get(source, []):
            spec = _find_in_source(conn, original, tool)
            if spec is not None:
                return spec
    return None


def original_sources(conn: sqlite3.Connection, names: Collection[str]) -> list[str]:
    """Return `names` as the registry spells sources, keeping those it does not know.

    A name the registry has no tool under may be a source's Python name (`my_server`
    for `my-server`): it stands for every source of that name.
    """
    names = [names] if isinstance(names, str) else list(names)
    spellings = _source_spellings(conn, names)
    return [original for name in names for original in spellings[name]]


def not_found(conn: sqlite3.Connection, qualified_name: str) -> ToolNotFound:
    """Build the `ToolNotFound` for `qualified_name`, suggesting close matches."""
    wanted = safe_text(qualified_name)
    pairs: list[tuple[str, str]] = conn.execute(_ALL_NAMES).fetchall()
    sources = sorted({source for source, _ in pairs})
    spellings = {*sources, *(source_identifier(source) for source in sources)}
    if "." not in wanted:
        what = f"no tool {wanted!r}: tools are named 'server.tool'"
    elif not any(wanted.startswith(f"{source}.") for source in spellings):
        known = ", ".join(repr(source) for source in sources[:_MAX_LISTED]) or "none yet"
        if len(sources) > _MAX_LISTED:
            known += f" and {len(sources) - _MAX_LISTED} more"
        what = f"no tool {wanted!r}: its source is not in the registry (sources: {known})"
    else:
        what = f"no tool {wanted!r} in the registry"
    close = _close_matches(wanted, pairs)
    if close:
        what += f"; did you mean {', '.join(repr(name) for name in close)}?"
    else:
        what += "."
    hint = " ".join(name_words(wanted.rpartition(".")[2])) or wanted
    msg = f"{what} Call search_tools({hint!r}) to find tools by what they do."
    return ToolNotFound(msg, tool=qualified_name)


def exact_matches(
    conn: sqlite3.Connection, raw: str, keys: list[str], sources: str | None
) -> list[ExactMatch]:
    """Return tools whose name is exactly `raw` (tier 2) or whose name key is in `keys` (1).

    `raw` may be qualified (`server.tool`); names and sanitized identifiers both count.
    """
    found: dict[int, ExactMatch] = {}
    splits = list(_splits(raw))
    spellings = _source_spellings(conn, [source for source, _ in splits])
    named = [(original, tool) for source, tool in splits for original in spellings[source]]
    for source, tool in [(None, raw), *named]:
        params = {"tool": tool, "source": source, "sources": sources}
        for row_id, spec_json in conn.execute(_EXACT_NAME, params):
            found[row_id] = (row_id, spec_json, 2)
    params = {"keys": json.dumps(keys), "sources": sources}
    for row_id, spec_json in conn.execute(_EXACT_KEY, params):
        found.setdefault(row_id, (row_id, spec_json, 1))
    return list(found.values())


_ALL_NAMES = "SELECT source, name FROM tool_index ORDER BY source, name"


def _find_in_source(conn: sqlite3.Connection, source: str, tool: str) -> ToolSpec | None:
    row = conn.execute(
        # `+source`: look up by name/identifier, not by scanning the whole source.
        "SELECT spec_json FROM tool_index WHERE (name = ?2 OR ident = ?2) AND +source = ?1"
        " ORDER BY name = ?2 DESC, name LIMIT 1",
        (source, tool),
    ).fetchone()
    return None if row is None else ToolSpec.from_json(json.loads(row[0]))


def _source_spellings(conn: sqlite3.Connection, names: list[str]) -> dict[str, list[str]]:
    """Map each of `names` to the sources it names: itself if known, else by Python name."""
    if not names:
        return {}
    known = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT source FROM tool_index"
            " WHERE source IN (SELECT value FROM json_each(?))",
            (json.dumps([safe_text(name) for name in names]),),
        )
    }
    python_names = {} if known >= {safe_text(n) for n in names} else _python_sources(conn)
    return {
        name: [name] if safe_text(name) in known else python_names.get(name, [name])
        for name in names
    }


def _python_sources(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Map each source's Python name (`my_server`) to the sources that have it."""
    by_name: dict[str, list[str]] = {}
    for (source,) in conn.execute("SELECT DISTINCT source FROM tool_index ORDER BY source"):
        by_name.setdefault(source_identifier(source), []).append(source)
    return by_name


def _splits(qualified_name: str) -> Iterator[tuple[str, str]]:
    start = 0
    for _ in range(_MAX_SPLITS):
        dot = qualified_name.find(".", start)
        if dot < 0:
            return
        yield qualified_name[:dot], qualified_name[dot + 1 :]
        start = dot + 1


def _close_matches(wanted: str, pairs: list[tuple[str, str]]) -> list[str]:
    # Compare the bare tool part too, so that a missing or wrong source still finds it.
    by_key: dict[str, str] = {}
    for source, name in pairs:
        qualified = f"{source}.{name}"
        by_key.setdefault(qualified, qualified)
        by_key.setdefault(name, qualified)
    close: list[str] = []
    for probe in dict.fromkeys((wanted, wanted.rpartition(".")[2])):
        for key in difflib.get_close_matches(probe, by_key, n=3, cutoff=0.6):
            if by_key[key] not in close:
                close.append(by_key[key])
    return close[:3]
