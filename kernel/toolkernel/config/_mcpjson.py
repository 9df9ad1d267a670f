"""Read MCP server definitions from the standard `mcp.json` shape.

The file is the one users already keep for Claude Desktop, Cursor or VS Code::

    {"mcpServers": {
        "filesystem": {"command": "npx", "args": ["-y", "..."], "env": {"TOKEN": "${TOKEN}"}},
        "search": {"url": "http://127.0.0.1:8000/mcp",
                   "headers": {"Authorization": "Bearer ${KEY}"}},
        "notes": {"url": "https://notes.example.com/mcp", "auth": "oauth"}
    }}

A remote server with `"auth": "oauth"` (or `{"type": "oauth", "scope": ..., "client_name":
...}`) signs in through OAuth: the tool host registers itself, a person approves in a
browser once, and the host keeps and refreshes the tokens (see `toolkernel.host._oauth`).

One broken entry never hides the others: it is kept as an `InvalidServer` carrying the
reason, so the kernel can report it in `%tools` while every other server connects.

A folder's `./mcp.json` is used only once a person approved its exact content (see
`toolkernel.config._trust`): until then none of its servers start and none of its `${VAR}`
are expanded, and `<home>/mcp.json`, if there is one, is used instead.
`$TOOLKERNEL_MCP_CONFIG` and `<home>/mcp.json` were put there by the person, and need no
approval.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolkernel.config._trust import TrustStore, config_summary, content_digest
from toolkernel.errors import ConfigError, UntrustedConfig

__all__ = [
    "CONFIG_ENV_VAR",
    "HttpServer",
    "InvalidServer",
    "McpConfig",
    "OAuthSettings",
    "ServerConfig",
    "StdioServer",
    "find_config",
    "load_config",
    "parse_config",
]

CONFIG_ENV_VAR = "TOOLKERNEL_MCP_CONFIG"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class StdioServer:
    """A server started as a child process that speaks MCP over stdin/stdout."""

    name: str
    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None


@dataclass(frozen=True)
class OAuthSettings:
    """How a remote server's OAuth sign-in asks for access.

    Attributes:
        scope: The scopes to ask for, space-separated; None: what the server asks for.
        client_name: The name the person sees on the consent page.
    """

    scope: str | None = None
    client_name: str = "toolkernel"


@dataclass(frozen=True)
class HttpServer:
    """A server reached over streamable HTTP; `oauth` set: it signs in with OAuth."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    oauth: OAuthSettings | None = None


@dataclass(frozen=True)
class InvalidServer:
    """An entry that could not be used; `reason` says why and what to fix."""

    name: str
    reason: str


ServerConfig = StdioServer | HttpServer | InvalidServer


@dataclass(frozen=True)
class McpConfig:
    """The servers of one `mcp.json`, and where it was read from (None: no file).

    `untrusted` is set when a folder's `./mcp.json` was skipped because no person approved
    it; its message says which file, why, and how to approve it.
    """

    servers: dict[str, ServerConfig]
    path: Path | None = None
    untrusted: UntrustedConfig | None = None


def find_config(home: Path, cwd: Path | None = None) -> Path | None:
    """Return the `mcp.json` to use, or None when there is none.

    Lookup order: `$TOOLKERNEL_MCP_CONFIG`, `./mcp.json`, `<home>/mcp.json`.

    Raises:
        ConfigError: `$TOOLKERNEL_MCP_CONFIG` names a file that does not exist.
    """
    env = os.environ.get(CONFIG_ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            msg = f"{CONFIG_ENV_VAR}={env} does not exist; point it at an mcp.json or unset it"
            raise ConfigError(msg)
        return path
    for candidate in ((cwd or Path.cwd()) / "mcp.json", home / "mcp.json"):
        if candidate.is_file():
            return candidate
    return None


def load_config(
    home: Path,
    cwd: Path | None = None,
    *,
    explicit: Path | None = None,
    require_trust: bool = True,
) -> McpConfig:
    """Find and parse `mcp.json`; no file means no servers.

    Args:
        home: The toolkernel home, searched last; it holds the trust store.
        cwd: The directory searched for `./mcp.json` (default: the working directory).
        explicit: Read this file instead of looking one up (it must exist).
        require_trust: Skip a folder's `./mcp.json` that no person approved (the
            default). Only a caller that reads nothing but server names may pass False.

    Raises:
        ConfigError: The file is missing (when explicit), not valid JSON, or not an
            object with `mcpServers`.
    """
    if explicit is not None and not explicit.is_file():
        msg = f"MCP config {explicit} does not exist; create it or fix the mcp_config option"
        raise ConfigError(msg)
    path = explicit or find_config(home, cwd)
    if path is None:
        return McpConfig(servers={})
    raw, data = _read(path)
    if explicit is None and require_trust and _is_folder_config(path, home):
        digest = content_digest(raw)
        if not TrustStore(home).trusts_config(path, digest):
            fallback = home / "mcp.json"
            instead = load_config(home, explicit=fallback) if fallback.is_file() else None
            refusal = _refusal(path, digest, data, instead)
            return McpConfig(
                servers=instead.servers if instead else {},
                path=instead.path if instead else None,
                untrusted=refusal,
            )
    return McpConfig(servers=parse_config(data, origin=str(path)), path=path)


def _read(path: Path) -> tuple[bytes, Any]:
    """The file's bytes and its JSON (one read: what is approved is what is parsed)."""
    try:
        raw = path.read_bytes()
        return raw, json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"cannot read MCP config {path}: {exc}; fix the file or set {CONFIG_ENV_VAR}"
        raise ConfigError(msg) from exc


def _is_folder_config(path: Path, home: Path) -> bool:
    """Whether `path` came from the working directory rather than the person's own places."""
    if os.environ.get(CONFIG_ENV_VAR):
        return False
    home_config = home / "mcp.json"
    return not (home_config.is_file() and home_config.resolve() == path.resolve())


def _refusal(path: Path, digest: str, data: Any, instead: McpConfig | None) -> UntrustedConfig:
    runs = "; ".join(config_summary(data)) or "no servers"
    meanwhile = f" Meanwhile the servers of {instead.path} are used." if instead else ""
    msg = (
        f"{path} is not trusted yet, so none of its servers were started (it would run: "
        f"{runs}). An mcp.json in a project folder can run any command and send your "
        f"environment's ${{VAR}} values to any URL, so a person approves it first. Read it; "
        f"if you trust it, run `%tools trust` in this kernel or `toolkernel trust {path}` "
        f"in a terminal, then restart the kernel. Editing the file asks again.{meanwhile}"
    )
    return UntrustedConfig(msg, path=str(path), digest=digest)


def parse_config(
    data: Any, *, origin: str = "mcp.json", environ: Mapping[str, str] | None = None
) -> dict[str, ServerConfig]:
    """Parse an `mcp.json` document into server entries, expanding `${VAR}`.

    Raises:
        ConfigError: The document itself has the wrong shape. A bad single entry does
            not raise; it becomes an `InvalidServer`.
    """
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        msg = f'{origin}: expected {{"mcpServers": {{name: {{command, args}} | {{url}}}}}}'
        raise ConfigError(msg)
    env = os.environ if environ is None else environ
    servers: dict[str, ServerConfig] = {}
    for name, entry in data.get("mcpServers", {}).items():
        try:
            servers[name] = _parse_entry(name, entry, env)
        except ConfigError as exc:
            servers[name] = InvalidServer(name=name, reason=str(exc))
    return servers


def _parse_entry(name: str, entry: Any, env: Mapping[str, str]) -> StdioServer | HttpServer:
    if not isinstance(entry, dict):
        msg = f"server {name!r}: expected an object with 'command' or 'url'"
        raise ConfigError(msg, server=name)
    if entry.get("disabled") is True:
        msg = f'server {name!r} is disabled in the config (remove "disabled": true to use it)'
        raise ConfigError(msg, server=name)
    if "auth" in entry and not (isinstance(entry.get("url"), str) and entry["url"]):
        msg = f"server {name!r}: 'auth' applies to remote servers only (those with a 'url')"
        raise ConfigError(msg, server=name)
    if isinstance(entry.get("command"), str) and entry["command"]:
        return StdioServer(
            name=name,
            command=entry["command"],
            args=_str_list(name, "args", entry.get("args", [])),
            env=_expand_map(name, "env", entry.get("env", {}), env),
            cwd=entry.get("cwd") if isinstance(entry.get("cwd"), str) else None,
        )
    if isinstance(entry.get("url"), str) and entry["url"]:
        url = _expand(name, "url", entry["url"], env)
        headers = _expand_map(name, "headers", entry.get("headers", {}), env)
        oauth = _oauth_settings(name, entry["auth"], url, headers) if "auth" in entry else None
        return HttpServer(name=name, url=url, headers=headers, oauth=oauth)
    msg = f"server {name!r}: needs a non-empty 'command' (stdio) or 'url' (streamable HTTP)"
    raise ConfigError(msg, server=name)


_OAUTH_KEYS = frozenset({"type", "scope", "client_name"})
# RFC 6749 section 3.3: scope tokens are printable ASCII without space, '"' or '\\'.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _oauth_settings(name: str, auth: Any, url: str, headers: dict[str, str]) -> OAuthSettings:
    """Check an entry's `auth` (`"oauth"`, or an object with `"type": "oauth"`)."""
    spec = {"type": auth} if isinstance(auth, str) else auth
    if not isinstance(spec, dict) or spec.get("type") != "oauth":
        msg = f'server {name!r}: \'auth\' must be "oauth" or {{"type": "oauth", ...}}'
        raise ConfigError(msg, server=name)
    unknown = sorted(set(spec) - _OAUTH_KEYS)
    if unknown:
        msg = f"server {name!r}: unknown 'auth' keys {unknown}; allowed: scope, client_name"
        raise ConfigError(msg, server=name)
    scope, client_name = spec.get("scope"), spec.get("client_name", "toolkernel")
    if scope is not None and not (isinstance(scope, str) and _SCOPE.fullmatch(scope)):
        msg = f"server {name!r}: auth.scope must be space-separated scope names, like 'read write'"
        raise ConfigError(msg, server=name)
    if not isinstance(client_name, str) or not client_name.isprintable() or not client_name:
        msg = f"server {name!r}: auth.client_name must be a non-empty line of printable text"
        raise ConfigError(msg, server=name)
    if len(client_name) > 100:
        msg = f"server {name!r}: auth.client_name is longer than 100 characters"
        raise ConfigError(msg, server=name)
    if any(key.lower() == "authorization" for key in headers):
        msg = f"server {name!r}: drop the Authorization header, or drop 'auth': use one sign-in"
        raise ConfigError(msg, server=name)
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        msg = f"server {name!r}: OAuth needs an http(s) URL, not {url!r}"
        raise ConfigError(msg, server=name)
    if parsed.scheme == "http" and parsed.hostname not in _LOOPBACK:
        msg = (
            f"server {name!r}: OAuth over plain http would send tokens unencrypted; "
            f"use https:// (plain http is allowed for 127.0.0.1 and localhost only)"
        )
        raise ConfigError(msg, server=name)
    return OAuthSettings(scope=scope, client_name=client_name)


def _str_list(name: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        msg = f"server {name!r}: '{key}' must be a list of strings"
        raise ConfigError(msg, server=name)
    return list(value)


def _expand_map(name: str, key: str, value: Any, env: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(value, dict):
        msg = f"server {name!r}: '{key}' must be an object of strings"
        raise ConfigError(msg, server=name)
    return {k: _expand(name, f"{key}.{k}", str(v), env) for k, v in value.items()}


def _expand(name: str, where: str, text: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in env:
            msg = (
                f"server {name!r}: {where} uses ${{{var}}}, which is not set; "
                f"export {var} before starting the kernel"
            )
            raise ConfigError(msg, server=name)
        return env[var]

    return _VAR.sub(substitute, text)
