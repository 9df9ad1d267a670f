"""What the panel's REST API answers, built from the registry kernels share.

`PanelService` never talks to an MCP server and never starts a ToolHost: the registry
already holds every server's catalog snapshot and the statuses kernels publish. The
tool set's summaries are cached under a token of the tool set (server status writes do
not touch it), so a search costs one BM25 query and a list costs nothing until a tool,
catalog or version changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkernel._spec import JSONObject, ToolSpec
from toolkernel.config import InvalidServer, load_config
from toolkernel.errors import ConfigError, RegistryError, ToolNotFound
from toolkernel.registry import ToolRegistry
from toolkernel.serverext._bindings import ToolBindings
from toolkernel.serverext._summaries import summary, version_record

__all__ = ["NOT_STARTED", "NOT_STARTED_STATE", "PanelService"]

NOT_STARTED_STATE = "not_started"
"""The state of a server in mcp.json that no kernel has published a status for yet.

It is the panel's state only (the registry never stores it): nothing is wrong with such
a server, no kernel has tried it, so the panel shows it neutrally, not as an error.
"""
NOT_STARTED = "no kernel has connected it yet"
"""The detail of a server in state `NOT_STARTED_STATE`."""


@dataclass
class _Snapshot:
    """The tool set as the panel shows it, for one tool-set token (filled lazily).

    Server status writes do not change the tool set, so they keep the snapshot.
    """

    generation: str
    versions: dict[str, int]
    deleted: list[JSONObject]
    summaries: list[JSONObject] | None = None
    encoded: bytes | None = None


class PanelService:
    """Answers the panel's questions from one `ToolRegistry` (the one kernels use)."""

    def __init__(self, home: Path, mcp_config: Path | None = None) -> None:
        """Open the registry under `home`; servers are read from `mcp_config` or looked up.

        Args:
            home: The toolkernel home (created if missing, like a kernel does).
            mcp_config: An explicit mcp.json; None looks it up as the kernel does
                (`$TOOLKERNEL_MCP_CONFIG`, `./mcp.json`, `<home>/mcp.json`).
        """
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.mcp_config = mcp_config
        self.registry = ToolRegistry(self.home)
        self._changes = self.registry.watch()
        self._bindings = ToolBindings(self.registry, self.home)
        self._snapshot: _Snapshot | None = None

    def close(self) -> None:
        """Release the registry connection."""
        self.registry.close()

    def generation(self) -> str:
        """Return the token that changes with the tools, catalogs and server statuses."""
        return self._changes.token()

    def tools(self, query: str | None, limit: int | None) -> JSONObject:
        """Return `{"query", "total", "tools", "deleted"}`: every tool, or the best matches.

        Without a query, tools are sorted by source then name and `limit` (None: all)
        cuts the list; with one, they are ranked as `ToolRegistry.search` ranks them.
        `total` is how many tools there are in all, whatever the query or limit, so
        that "4 of 22 tools match" can be said. `deleted` lists the deleted registry
        tools (`name`, `kind`, `version`: the delete's), which a restore brings back.
        """
        snapshot = self._current()
        summaries = self._summaries(snapshot)
        if query is None:
            tools = summaries if limit is None else summaries[:limit]
        else:
            hits = self.registry.search(query, limit=200 if limit is None else limit)
            tools = [
                summary(hit.spec, snapshot.versions.get(hit.spec.qualified_name)) for hit in hits
            ]
        return {
            "query": query or "",
            "total": len(summaries),
            "tools": tools,
            "deleted": snapshot.deleted,
        }

    def tools_json(self, limit: int | None) -> bytes:
        """Return `tools(None, limit)` encoded, reusing the encoding while nothing changed."""
        snapshot = self._current()
        if limit is not None and limit < len(self._summaries(snapshot)):
            return _encode(self.tools(None, limit))
        if snapshot.encoded is None:
            snapshot.encoded = _encode(self.tools(None, None))
        return snapshot.encoded

    def details(self, name: str) -> JSONObject:
        """Return the Summary of tool `name` plus signature, doc, call, schemas, versions.

        Raises:
            ToolNotFound: No such tool; the message suggests close names.
            BindingError: Its generated bindings failed to load.
        """
        spec = self.registry.get_tool(name)
        found = self._bindings.details(spec)
        versions = (
            0 if spec.kind == "mcp" else len(self.registry.tool_versions(spec.qualified_name))
        )
        return {
            **summary(spec, self._current().versions.get(spec.qualified_name)),
            "signature": found.signature,
            "doc": found.doc,
            "call": found.call,
            "input_schema": spec.input_schema,
            "output_schema": spec.output_schema,
            "versions": versions,
        }

    def versions(self, name: str) -> JSONObject:
        """Return the version history of `name`, oldest first (empty for an MCP tool).

        `deleted` says whether the tool is deleted now (its current version is then the
        delete).

        Raises:
            ToolNotFound: No such tool.
        """
        spec = self._registry_spec(name)
        if spec is not None and spec.kind == "mcp":
            return {"name": spec.qualified_name, "current": None, "versions": [], "deleted": False}
        qualified = name if spec is None else spec.qualified_name
        history = self.registry.tool_versions(qualified)
        return {
            "name": qualified,
            "current": history[-1].version,
            "versions": [version_record(version) for version in history],
            "deleted": spec is None,
        }

    def diff(self, name: str, a: int, b: int | None) -> JSONObject:
        """Return the unified diff of registry tool `name` from version `a` to `b` (current).

        Raises:
            ToolNotFound: No such tool or version.
        """
        qualified = self._qualified(name)
        if b is None:
            b = self.registry.tool_version(qualified).version
        return {"name": qualified, "a": a, "b": b, "diff": self.registry.diff_tool(qualified, a, b)}

    def rollback(self, name: str, version: int, note: str | None, author: str) -> JSONObject:
        """Append a copy of `version` of `name` as its new current version.

        Raises:
            ToolNotFound: No such tool or version (MCP tools have no versions).
        """
        qualified = self._qualified(name)
        restored = self.registry.rollback_tool(qualified, version, note=note, author=author)
        return {"name": qualified, "version": version_record(restored)}

    def history(self, limit: int, tool: str | None) -> JSONObject:
        """Return the newest `limit` tool calls every process on this home made, newest first.

        `tool` keeps only the calls of that tool (`server.tool`, as its server names it).

        Raises:
            RegistryError: `limit` is out of range.
        """
        calls = self.registry.call_history(limit, tool=tool)
        return {"calls": [call.to_json() for call in calls]}

    def delete(self, name: str, note: str | None, author: str) -> JSONObject:
        """Soft-delete registry tool `name`; return the delete as a version record.

        Raises:
            ToolNotFound: No such registry tool.
            RegistryError: Already deleted, or an MCP server's tool (the message says so).
        """
        tombstone = self.registry.delete_tool(name, note=note, author=author)
        return {"name": tombstone.name, "version": version_record(tombstone)}

    def restore(self, name: str, note: str | None, author: str) -> JSONObject:
        """Bring back deleted tool `name` as a new version; return that version's record.

        Raises:
            ToolNotFound: No such registry tool.
            RegistryError: Not deleted, or an MCP server's tool.
        """
        restored = self.registry.restore_tool(name, note=note, author=author)
        return {"name": restored.name, "version": version_record(restored)}

    def servers(self) -> JSONObject:
        """Return the published status of every server, plus configured ones without one.

        A server in mcp.json that no kernel has published yet is `NOT_STARTED_STATE`
        (`not_started`), with the detail `NOT_STARTED`; an entry mcp.json gets wrong is
        `failed` with the reason.
        `config_error` says why mcp.json could not be read, or that a folder's
        mcp.json waits for a person's approval (and how to give it), or is None.
        """
        rows: dict[str, JSONObject] = {
            status.name: {
                "name": status.name,
                "state": status.state,
                "detail": status.detail,
                "tool_count": status.tool_count,
                "updated_at": status.updated_at,
            }
            for status in self.registry.server_statuses()
        }
        config_error: str | None = None
        try:
            config = load_config(self.home, explicit=self.mcp_config)
        except ConfigError as exc:
            config_error = str(exc)
        else:
            if config.untrusted is not None:  # a folder's mcp.json no person approved
                config_error = str(config.untrusted)
            for name, server in config.servers.items():
                if name in rows:
                    continue
                invalid = isinstance(server, InvalidServer)
                rows[name] = {
                    "name": name,
                    "state": "failed" if invalid else NOT_STARTED_STATE,
                    "detail": server.reason if isinstance(server, InvalidServer) else NOT_STARTED,
                    "tool_count": None,
                    "updated_at": _mtime(config.path),
                }
        return {"servers": [rows[name] for name in sorted(rows)], "config_error": config_error}

    def _current(self) -> _Snapshot:
        generation = self._changes.tools_token()
        if self._snapshot is None or self._snapshot.generation != generation:
            every = self.registry.registry_tools(include_deleted=True)
            live = {v.name for v in self.registry.registry_tools()}
            versions = {v.name: v.version for v in every if v.name in live}
            deleted: list[JSONObject] = [
                {"name": v.name, "kind": v.kind, "version": v.version}
                for v in every
                if v.name not in live
            ]
            self._snapshot = _Snapshot(generation, versions, deleted)
        return self._snapshot

    def _summaries(self, snapshot: _Snapshot) -> list[JSONObject]:
        """Every tool's summary, sorted by (source, name); built once per generation."""
        if snapshot.summaries is None:
            specs = self.registry.list_tools()
            versions = snapshot.versions
            snapshot.summaries = [summary(s, versions.get(s.qualified_name)) for s in specs]
        return snapshot.summaries

    def _registry_spec(self, name: str) -> ToolSpec | None:
        """The current spec of `name`, or None for a deleted registry tool (history stays)."""
        try:
            return self.registry.get_tool(name)
        except ToolNotFound:
            if self._is_registry_name(name):
                return None
            raise

    def _qualified(self, name: str) -> str:
        """The registry name of `name`; an MCP tool raises `ToolNotFound` with why."""
        spec = self._registry_spec(name)
        if spec is None:
            return name
        if spec.kind == "mcp":
            msg = (
                f"{spec.qualified_name!r} is a tool of MCP server {spec.source!r}: it has no "
                "registry versions to diff or roll back (its catalog is versioned by the server)"
            )
            raise ToolNotFound(msg, tool=name)
        return spec.qualified_name

    def _is_registry_name(self, name: str) -> bool:
        try:
            self.registry.tool_versions(name)
        except RegistryError:
            return False
        return True


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path is not None else 0.0
    except OSError:
        return 0.0
