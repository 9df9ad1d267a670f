"""The MCP catalog cache: versioned snapshots of each server's `tools/list`.

A snapshot is stored only when a source's `catalog_hash` changed, and snapshots are
never rewritten, so the history of every catalog is kept. Each snapshot holds its tools
as one JSON array, which makes loading every catalog on kernel start one short query.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from toolkernel._spec import ToolSpec, catalog_hash
from toolkernel.errors import RegistryError
from toolkernel.registry._index import IndexRow, index_rows, spec_to_json

__all__ = [
    "CatalogSnapshot",
    "PreparedCatalog",
    "insert_snapshot",
    "latest_catalog",
    "latest_catalogs",
    "latest_hash",
    "prepare_catalog",
    "snapshot_history",
]


@dataclass(frozen=True)
class CatalogSnapshot:
    """One stored version of a source's tool list.

    Attributes:
        source: The MCP server (or namespace) the tools belong to.
        hash: The `catalog_hash` of the tools.
        created_at: When the snapshot was stored, as Unix time.
        tool_count: How many tools it holds.
    """

    source: str
    hash: str
    created_at: float
    tool_count: int


@dataclass(frozen=True)
class PreparedCatalog:
    """A checked, serialized catalog, ready to be written in one transaction.

    Attributes:
        source: The source the tools belong to.
        hash: Their `catalog_hash`.
        tools_json: The JSON array the snapshot stores.
        rows: The search index rows, one per tool.
    """

    source: str
    hash: str
    tools_json: str
    rows: list[IndexRow]


def prepare_catalog(source: str, specs: list[ToolSpec]) -> PreparedCatalog:
    """Check and serialize `specs`, the whole tool list of `source`.

    Raises:
        RegistryError: `source` is empty, a spec names another source, two specs share
            a name, or a spec holds something that is not JSON.
    """
    if not isinstance(source, str) or not source:
        msg = f"a catalog needs a non-empty source name, not {source!r}"
        raise RegistryError(msg)
    _check_specs(source, specs)
    try:
        specs_json = [spec_to_json(spec) for spec in specs]
        for text in specs_json:
            text.encode("utf-8")  # SQLite text is UTF-8: a lone surrogate cannot be stored
        digest = catalog_hash(specs)
    except (TypeError, ValueError) as exc:
        msg = (
            f"the catalog of {source!r} cannot be stored as JSON: {exc}; tool schemas must "
            "hold only dicts, lists, strings, numbers, booleans and None"
        )
        raise RegistryError(msg) from exc
    rows = index_rows(specs, specs_json)
    return PreparedCatalog(source, digest, "[" + ",".join(specs_json) + "]", rows)


def latest_hash(conn: sqlite3.Connection, source: str) -> str | None:
    """Return the hash of the newest snapshot of `source`, or None if it has none."""
    row = conn.execute(
        "SELECT hash FROM catalog_snapshots WHERE source = ? ORDER BY id DESC LIMIT 1",
        (source,),
    ).fetchone()
    return None if row is None else str(row[0])


def insert_snapshot(conn: sqlite3.Connection, catalog: PreparedCatalog) -> None:
    """Append a snapshot of `catalog`; the caller holds the write transaction."""
    conn.execute(
        "INSERT INTO catalog_snapshots (source, hash, created_at, tool_count, tools_json)"
        " VALUES (?, ?, ?, ?, ?)",
        (catalog.source, catalog.hash, time.time(), len(catalog.rows), catalog.tools_json),
    )


def latest_catalog(conn: sqlite3.Connection, source: str) -> list[ToolSpec] | None:
    """Return the tools of the newest snapshot of `source`, or None if it has none."""
    row = conn.execute(
        "SELECT tools_json FROM catalog_snapshots WHERE source = ? ORDER BY id DESC LIMIT 1",
        (source,),
    ).fetchone()
    return None if row is None else _specs(row[0])


def latest_catalogs(conn: sqlite3.Connection) -> dict[str, list[ToolSpec]]:
    """Return the tools of the newest snapshot of every source, by source name."""
    rows = conn.execute(
        "SELECT source, tools_json FROM catalog_snapshots"
        " WHERE id IN (SELECT max(id) FROM catalog_snapshots GROUP BY source)"
        " ORDER BY source"
    )
    return {source: _specs(tools_json) for source, tools_json in rows}


def snapshot_history(conn: sqlite3.Connection, source: str) -> list[CatalogSnapshot]:
    """Return every snapshot of `source`, oldest first."""
    rows = conn.execute(
        "SELECT source, hash, created_at, tool_count FROM catalog_snapshots"
        " WHERE source = ? ORDER BY id",
        (source,),
    )
    return [CatalogSnapshot(*row) for row in rows]


def _check_specs(source: str, specs: list[ToolSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        _check_spec(source, spec)
        if spec.name in seen:
            msg = f"the catalog of {source!r} lists tool {spec.name!r} twice; keep one"
            raise RegistryError(msg)
        seen.add(spec.name)


def _check_spec(source: str, spec: ToolSpec) -> None:
    if not isinstance(spec, ToolSpec):
        msg = f"the catalog of {source!r} holds {spec!r}, which is not a ToolSpec"
        raise RegistryError(msg)
    if spec.source != source:
        msg = (
            f"tool {spec.qualified_name!r} cannot be saved in the catalog of {source!r}; "
            f"build its ToolSpec with source={source!r}"
        )
        raise RegistryError(msg)
    if not isinstance(spec.name, str) or not spec.name:
        msg = f"a tool of {source!r} has no name ({spec.name!r}); every tool needs one"
        raise RegistryError(msg)
    typed = (
        isinstance(spec.description, str)
        and isinstance(spec.title, str | None)
        and isinstance(spec.input_schema, dict)
    )
    if not typed:
        msg = (
            f"tool {spec.qualified_name!r} has a description, title or input schema of the "
            "wrong type; they must be a str, a str or None, and a dict"
        )
        raise RegistryError(msg)


def _specs(tools_json: str) -> list[ToolSpec]:
    return [ToolSpec.from_json(data) for data in json.loads(tools_json)]
