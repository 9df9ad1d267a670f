"""Servers that change while a kernel runs: `add_server`, `remove_server`, mcp.json edits.

`add_server` and `remove_server` check an entry as mcp.json's own are checked, and keep
the change in the home's mcp.json, so later kernels start the same servers.
`ConfigFollower` notices edits to the mcp.json files a kernel reads (and to the trust
store, so an approval made with `%tools trust` takes effect) by polling their `stat`,
which costs microseconds a second and works for files that do not exist yet.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.config import (
    CONFIG_ENV_VAR,
    TRUST_FILE,
    McpConfig,
    ServerConfig,
    check_server,
    load_config,
    persist_server,
)
from toolkernel.errors import ConfigError
from toolkernel.factory import SKILL_NAMESPACE
from toolkernel.session._sync import run_blocking

if TYPE_CHECKING:
    from toolkernel.bindings import ToolsNamespace
    from toolkernel.host import ServerStatus, ToolHost
    from toolkernel.registry import ToolRegistry

__all__ = ["FOLLOW_POLL_S", "ConfigFollower", "ServerChanges", "check_server", "persist_server"]

log = logging.getLogger("toolkernel.kernel")

FOLLOW_POLL_S = 1.0
"""How often the files a kernel's server list comes from are checked for changes."""
_RESERVED = frozenset({"local", SKILL_NAMESPACE})
"""Registry namespaces a server may not take even before they hold a tool."""


class ConfigFollower:
    """Calls `on_change()` in its thread whenever one of `paths()` changes on disk."""

    def __init__(
        self,
        paths: Callable[[], list[Path]],
        on_change: Callable[[], None],
        *,
        interval: float = FOLLOW_POLL_S,
    ) -> None:
        """Follow the files `paths()` names (created, edited or deleted)."""
        self._paths = paths
        self._on_change = on_change
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = self._signature()

    def start(self) -> None:
        """Start following, in a daemon thread."""
        self._thread = threading.Thread(target=self._follow, name="toolkernel-mcpjson", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (the thread ends within one interval)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def seen(self) -> None:
        """Take the files as they are now as known (after this process wrote them)."""
        self._seen = self._signature()

    def _signature(self) -> tuple[tuple[str, int, int] | None, ...]:
        found: list[tuple[str, int, int] | None] = []
        for path in self._paths():
            try:
                stat = path.stat()
            except OSError:
                found.append(None)
                continue
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def _follow(self) -> None:
        while not self._stop.wait(self._interval):
            now = self._signature()
            if now == self._seen:
                continue
            self._seen = now
            try:
                self._on_change()
            except Exception:
                log.exception("could not follow the change to mcp.json; it is ignored")


class ServerChanges:
    """Adding, removing and re-reading MCP servers while a `Toolbox` runs."""

    home: Path
    config_path: Path | None
    config_error: str | None
    config_looked_in: list[str]
    server_config: McpConfig
    host: ToolHost
    registry: ToolRegistry
    namespace: ToolsNamespace
    follower: ConfigFollower
    _cwd: Path
    _servers_lock: threading.RLock
    _added: dict[str, ServerConfig]
    _removed: set[str]
    _file_servers: dict[str, ServerConfig]
    _first_waited: set[str]
    _specs: dict[str, Any]

    def _read_mcp_json(self, home: Path, config_path: Path | None) -> McpConfig:
        raise NotImplementedError

    def _registry_namespaces(self) -> set[str]:
        raise NotImplementedError

    def add_server(
        self, name: str, config: dict[str, Any], *, replace: bool = False, timeout: float = 30.0
    ) -> ServerStatus:
        """Start an MCP server now, and keep it in the home's mcp.json for later kernels.

        Its tools get bindings (`tools.<name>`) as soon as it connects; this waits for
        that, at most `timeout` seconds, and returns its status.

        Args:
            name: A letter, then up to 63 letters, digits, `_` or `-`.
            config: Its mcp.json entry: `{"command": ..., "args": [...], "env": {...}}`
                or `{"url": ..., "headers": {...}}`; `${VAR}` is expanded.
            replace: Replace a server of that name (default: refuse).
            timeout: Seconds to wait for its first connection.

        Raises:
            ConfigError: The name or entry is unusable, or the name is taken; nothing changed.
        """
        taken = {*self._registry_namespaces(), *self.registry.namespaces(), *_RESERVED}
        parsed = check_server(name, config, taken)
        with self._servers_lock:
            if name in self.server_config.servers and not replace:
                msg = (
                    f"a server named {name!r} exists; call remove_server({name!r}) first, "
                    "or add_server(..., replace=True)"
                )
                raise ConfigError(msg, server=name)
            persist_server(self.home / "mcp.json", name, config)
            self.follower.seen()
            self._added[name] = parsed
            self._removed.discard(name)
            self._first_waited.discard(name)
            self._apply_servers()
        return run_blocking(self.host.statuses([name], settle=timeout))[0]

    def adopt_servers(self, names: Collection[str]) -> None:
        """Start servers just written to the home's mcp.json (by an import) here too.

        Like `add_server`, this kernel runs them even when it reads another mcp.json.

        Raises:
            ConfigError: The home's mcp.json cannot be read.
        """
        written = load_config(self.home, explicit=self.home / "mcp.json").servers
        with self._servers_lock:
            self.follower.seen()
            for name in names:
                if name in written:
                    self._added[name] = written[name]
                    self._removed.discard(name)
                    self._first_waited.discard(name)
            self._apply_servers()

    def remove_server(self, name: str) -> None:
        """Stop an MCP server, drop its bindings, and remove it from the home's mcp.json.

        A server that comes from another mcp.json (a folder's) stays in that file: it is
        gone from this kernel until the file changes.

        Raises:
            ConfigError: No server has that name.
        """
        with self._servers_lock:
            if name not in self.server_config.servers:
                known = ", ".join(self.server_config.servers) or "none"
                msg = f"no server named {name!r}; servers: {known}"
                raise ConfigError(msg, server=str(name))
            persist_server(self.home / "mcp.json", name, None)
            self.follower.seen()
            self._added.pop(name, None)
            if name in self._file_servers:
                self._removed.add(name)
            self._apply_servers()

    def reload_servers(self) -> None:
        """Read mcp.json again and follow it: start new servers, stop removed or changed ones.

        The trust rules apply as at start: a folder's mcp.json that changed since a
        person approved it is not used until it is approved again (`%tools trust`). A
        file that cannot be read (bad JSON) changes nothing; `%tools` says why.
        """
        with self._servers_lock:
            self.config_error, self.config_looked_in = None, []
            config = self._read_mcp_json(self.home, self.config_path)
            if self.config_error is not None and config.untrusted is None:
                # Unreadable (an editor's half-written save, say): keep what runs.
                self.config_error += "; the servers read before keep running until it is fixed"
                return
            self._file_servers = dict(config.servers)
            self.server_config = McpConfig(
                servers=self.server_config.servers, path=config.path, untrusted=config.untrusted
            )
            self._apply_servers()

    def _apply_servers(self) -> None:
        """Make the host and the bindings follow mcp.json plus this session's changes."""
        effective = {n: c for n, c in self._file_servers.items() if n not in self._removed}
        effective.update(self._added)
        servers = self.server_config.servers  # the same dict everywhere: change it in place
        gone = [name for name in servers if name not in effective]
        servers.clear()
        servers.update(effective)
        self.host.set_servers(effective)
        for name in gone:
            self._first_waited.discard(name)
            self._specs = {k: v for k, v in self._specs.items() if k != name}
            if name in self.namespace.sources():
                self.namespace.remove_source(name)

    def _config_files(self) -> list[Path]:
        """The files the server list comes from: mcp.json candidates and the trust store."""
        if self.config_path is not None:
            return [self.config_path]
        env = os.environ.get(CONFIG_ENV_VAR)
        found = [Path(env).expanduser()] if env else []
        return [*found, self._cwd / "mcp.json", self.home / "mcp.json", self.home / TRUST_FILE]
