"""Edit `mcp.json` entries: check one as the file's own are checked, and set or delete it.

`add_server` and `remove_server` (a kernel's) and `import_tools` (a Skillz `mcp` entry)
change the home's mcp.json through these two functions, so an entry written by any of
them is one the next kernel reads the same way.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from toolkernel.config._mcpjson import InvalidServer, ServerConfig, parse_config
from toolkernel.errors import ConfigError

__all__ = ["check_server", "persist_server"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_server(name: str, entry: Any, taken: Collection[str]) -> ServerConfig:
    """Return the server `entry` describes, checked as an mcp.json entry is.

    Args:
        name: The server's name: a letter, then up to 63 letters, digits, `_` or `-`
            (it becomes `tools.<name>` and a log file name, so no dots or slashes).
        entry: What mcp.json holds for it: `{"command", "args", "env", "cwd"}` or
            `{"url", "headers"}`.
        taken: Names that are not free for a server (registry namespaces).

    Raises:
        ConfigError: The name is unsafe or taken, or the entry is unusable; nothing changed.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        msg = (
            f"server name {name!r} is not allowed: use a letter, then up to 63 letters, "
            "digits, '_' or '-' (it becomes tools.<name>)"
        )
        raise ConfigError(msg, server=str(name))
    if name in taken:
        msg = f"{name!r} is a tool namespace of the registry; give the server another name"
        raise ConfigError(msg, server=name)
    if not isinstance(entry, Mapping):
        msg = f"server {name!r}: expected an object with 'command' or 'url', not {entry!r}"
        raise ConfigError(msg, server=name)
    try:
        json.dumps(entry)
    except (TypeError, ValueError) as exc:
        msg = f"server {name!r}: the entry must be JSON (as in mcp.json): {exc}"
        raise ConfigError(msg, server=name) from exc
    config = parse_config({"mcpServers": {name: dict(entry)}}, origin="add_server")[name]
    if isinstance(config, InvalidServer):
        raise ConfigError(config.reason, server=name)
    return config


def persist_server(path: Path, name: str, entry: Mapping[str, Any] | None) -> None:
    """Set (or with `entry=None`, delete) one server of the mcp.json at `path`.

    Other keys and servers are kept; the file is replaced atomically.

    Raises:
        ConfigError: The file exists but is not an mcp.json object.
    """
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot update {path}: {exc}; fix or move it first"
            raise ConfigError(msg) from exc
    servers = document.get("mcpServers", {}) if isinstance(document, dict) else None
    if not isinstance(servers, dict):
        msg = f'cannot update {path}: expected {{"mcpServers": {{...}}}}; fix it first'
        raise ConfigError(msg)
    if entry is None:
        servers.pop(name, None)
    else:
        servers[name] = dict(entry)
    document["mcpServers"] = servers
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".mcp.json.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2)
        fh.write("\n")
    Path(temp).replace(path)
