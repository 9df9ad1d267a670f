"""MCP servers an import brings (Skillz `mcp` entries), written to the home's `mcp.json`.

A Skillz `mcp` tool is a server, not a tool: `{"command", "args", "env"}` under the
name that Skillz used as the namespace of its tools. It becomes an entry of the home's
`mcp.json`, checked exactly as `add_server` checks one. The command it runs is a grant
that a person approves (`trust=True`), like a tool's network or host paths. The entry
is written just before the import's tools are stored, and taken back if that fails.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from toolkernel.bundles._folder import ToolSource
from toolkernel.config import check_server, persist_server
from toolkernel.errors import BundleError, ConfigError

__all__ = ["SERVER_KIND", "ServerImport", "server_grants"]

SERVER_KIND = "mcp"
"""The `ToolSource.kind` of an MCP server to import; its kwargs hold `entry`."""


def server_grants(server: ToolSource) -> list[str]:
    """What an imported server asks for: the command it runs (and the environment it gets)."""
    entry = server.kwargs["entry"]
    argv = " ".join([str(entry.get("command", "")), *map(str, entry.get("args") or [])])
    grants = [f"runs the MCP server command {argv!r} outside the sandbox"]
    grants += [f"environment variable {name}" for name in sorted(entry.get("env") or {})]
    return grants


class ServerImport:
    """The servers one import adds to `path` (the home's mcp.json), checked first."""

    def __init__(self, path: Path, servers: list[ToolSource], *, overwrite: bool) -> None:
        """Add `servers` (kind `mcp`) to the mcp.json at `path`; `overwrite` replaces."""
        self._path = path
        self._servers = servers
        self._overwrite = overwrite
        self._before: dict[str, Any] = {}
        self._status: dict[str, str] = {}

    def check(self, namespaces: Collection[str], taken: Collection[str]) -> None:
        """Refuse an unusable entry or a name in use, before anything is written.

        Args:
            namespaces: Registry namespaces (no server may take one).
            taken: Server names in use that the home's mcp.json does not hold.

        Raises:
            ConfigError: An entry is not a valid mcp.json entry, or its name is unusable.
            BundleError: A server of that name exists (and `overwrite` is off).
        """
        if not self._servers:
            return
        current = self._current()
        names = [server.name for server in self._servers]
        for server in self._servers:
            name = str(server.name)
            try:
                check_server(name, server.kwargs["entry"], namespaces)
            except ConfigError as exc:
                exc.add_note(f"in {server.origin}; nothing was imported")
                raise
            if names.count(name) > 1:
                msg = f"the MCP server {name!r} is imported twice; nothing was imported"
                raise BundleError(msg, path=server.origin)
            same = current.get(name) == server.kwargs["entry"]
            if (name in current or name in taken) and not same and not self._overwrite:
                msg = (
                    f"an MCP server named {name!r} exists already; nothing was imported. "
                    f"Pass overwrite=True (CLI: --overwrite) to replace it in {self._path}, "
                    "or rename the Skillz tool folder's server"
                )
                raise BundleError(msg, path=server.origin)
            status = "unchanged" if same else "updated" if name in current else "created"
            self._status[name] = status
            if name in current:
                self._before[name] = current[name]

    @contextlib.contextmanager
    def written(self) -> Iterator[None]:
        """Write the entries; if the block raises, put back what the file held."""
        changed = [s for s in self._servers if self._status.get(str(s.name)) != "unchanged"]
        done: list[str] = []
        try:
            for server in changed:
                persist_server(self._path, str(server.name), server.kwargs["entry"])
                done.append(str(server.name))
            yield
        except BaseException:
            for name in done:
                persist_server(self._path, name, self._before.get(name))
            raise

    def report(self) -> list[tuple[str, str, str]]:
        """Each server's name, status (`created`, `updated`, `unchanged`) and origin."""
        return [(str(s.name), self._status[str(s.name)], s.origin) for s in self._servers]

    def _current(self) -> dict[str, Any]:
        if not self._path.is_file():
            return {}
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot add servers to {self._path}: {exc}; fix or move it first"
            raise ConfigError(msg) from exc
        servers = document.get("mcpServers") if isinstance(document, Mapping) else None
        if not isinstance(servers, Mapping):
            msg = f'cannot add servers to {self._path}: expected {{"mcpServers": {{...}}}}'
            raise ConfigError(msg)
        return dict(servers)
