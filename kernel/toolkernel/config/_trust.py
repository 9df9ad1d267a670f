"""What a person approved: a folder's `mcp.json`, and the grants of imported tools.

An `mcp.json` in a project folder runs its commands when a kernel starts there, and sends
`${VAR}` values from the kernel's environment wherever its URLs point. A bundle's tool can
ask for the network, host paths and host secrets. Neither takes effect until a person
approves it, and an approval is for one content: the sha256 of the file's bytes, or of
the tool's whole definition. A changed file or tool is asked about again.

The store is `<home>/trust.json`, mode 0600, replaced atomically under a lock::

    {"format": 1,
     "configs": {"/abs/project/mcp.json": {"sha256": "...", "approved_at": 1.7e9}},
     "tools": {"<sha256>": {"tool": "local.fetch", "grants": ["network"],
                            "approved_at": 1.7e9}}}

A store this process did not write (not a regular file, another owner, writable by
others) or of another shape is read as empty, with a warning: then everything is asked
about again, and nothing is ever approved by a file someone else planted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shlex
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkernel.errors import ConfigError

__all__ = [
    "TRUST_FILE",
    "Approval",
    "ToolGrants",
    "TrustStore",
    "config_summary",
    "content_digest",
    "trust_config",
]

log = logging.getLogger("toolkernel.trust")

TRUST_FILE = "trust.json"
_LOCK_FILE = ".trust.lock"
_FORMAT = 1
_MAX_BYTES = 4 * 1024 * 1024
_SUMMARY_CHARS = 160


def content_digest(data: bytes) -> str:
    """The sha256 (hex) an approval records."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Approval:
    """One approval in the store.

    Attributes:
        kind: `mcp.json` (a folder's config) or `tool` (an imported tool's grants).
        subject: The config's absolute path, or the tool's qualified name.
        digest: The sha256 of the approved content.
        approved_at: When, in seconds since the epoch.
        grants: For a tool, what it was allowed.
    """

    kind: str
    subject: str
    digest: str
    approved_at: float
    grants: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolGrants:
    """What one tool (or an old version of it) asks for, and the digest of its definition.

    Attributes:
        tool: The qualified name, plus `(history vN)` for an old version.
        grants: Readable grants, e.g. `network on`, `secret API_KEY`.
        digest: The sha256 of the tool's whole definition.
    """

    tool: str
    grants: tuple[str, ...]
    digest: str


@dataclass
class _Document:
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "configs": self.configs, "tools": self.tools}


class TrustStore:
    """The approvals kept in `<home>/trust.json`."""

    def __init__(self, home: Path) -> None:
        """Use the store of toolkernel home `home` (created on the first approval)."""
        self.home = home
        self.path = home / TRUST_FILE

    def trusts_config(self, path: Path, digest: str) -> bool:
        """Whether a person approved the config at `path` with exactly this content."""
        entry = self._read().configs.get(_key(path))
        return entry is not None and entry.get("sha256") == digest

    def trusts_tool(self, digest: str) -> bool:
        """Whether a person approved a tool definition with this digest."""
        return digest in self._read().tools

    def approve_config(self, path: Path, digest: str) -> Approval:
        """Approve `path` with this content (replacing an approval of older content)."""
        now = time.time()
        with self._changing() as document:
            document.configs[_key(path)] = {"sha256": digest, "approved_at": now}
        return Approval("mcp.json", _key(path), digest, now)

    def approve_tools(self, tools: Sequence[ToolGrants]) -> list[Approval]:
        """Approve each tool definition and its grants."""
        now = time.time()
        with self._changing() as document:
            for tool in tools:
                document.tools[tool.digest] = {
                    "tool": tool.tool,
                    "grants": list(tool.grants),
                    "approved_at": now,
                }
        return [Approval("tool", t.tool, t.digest, now, t.grants) for t in tools]

    def revoke(self, subject: str) -> list[Approval]:
        """Withdraw the approval of a config path, or every approval of a tool name.

        Returns:
            What was withdrawn (empty when nothing matched).
        """
        revoked = []
        with self._changing() as document:
            key = _key(Path(subject))
            if key in document.configs:
                revoked += [_config_approval(key, document.configs.pop(key))]
            for digest, entry in list(document.tools.items()):
                if _tool_name(entry.get("tool")) == subject:
                    revoked += [_tool_approval(digest, document.tools.pop(digest))]
        return revoked

    def approvals(self) -> list[Approval]:
        """Every approval, configs first, each group by subject."""
        document = self._read()
        configs = [_config_approval(key, entry) for key, entry in document.configs.items()]
        tools = [_tool_approval(digest, entry) for digest, entry in document.tools.items()]
        return sorted(configs, key=lambda a: a.subject) + sorted(tools, key=lambda a: a.subject)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[_Document]:
        """Read, let the caller change, and write back, with other writers locked out."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.home / _LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            # Held only for a read and a small write, never across anything slow.
            fcntl.flock(fd, fcntl.LOCK_EX)
            document = self._read()
            yield document
            self._write(document)
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, document: _Document) -> None:
        fd, temp = tempfile.mkstemp(dir=self.home, prefix=".trust-", suffix=".json")  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(document.to_json(), file, indent=1, sort_keys=True)
                file.flush()
                os.fsync(file.fileno())
            Path(temp).replace(self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _read(self) -> _Document:
        data = self._read_bytes()
        if data is None:
            return _Document()
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            return self._ignored(f"it is not JSON ({exc})")
        if not isinstance(parsed, dict) or parsed.get("format") != _FORMAT:
            return self._ignored(f'it is not {{"format": {_FORMAT}, "configs": ..., "tools": ...}}')
        configs, tools = parsed.get("configs", {}), parsed.get("tools", {})
        if not isinstance(configs, dict) or not isinstance(tools, dict):
            return self._ignored("its configs or tools are not objects")
        document = _Document(
            configs={k: v for k, v in configs.items() if _valid_config(k, v)},
            tools={k: v for k, v in tools.items() if _valid_tool(k, v)},
        )
        dropped = len(configs) + len(tools) - len(document.configs) - len(document.tools)
        if dropped:
            log.warning(
                "%s: ignored %d malformed approval(s); approve them again", self.path, dropped
            )
        return document

    def _read_bytes(self) -> bytes | None:
        """The store's bytes, or None when it is missing or not to be believed."""
        try:
            # O_NONBLOCK: a FIFO planted here must not hang the kernel; O_NOFOLLOW: no links.
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._ignored(f"it cannot be opened ({exc.strerror}; a symlink is refused)")
            return None
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                self._ignored("it is not a regular file")
                return None
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                self._ignored("another user owns it, or others may write it")
                return None
            data = file.read(_MAX_BYTES + 1)
        if len(data) > _MAX_BYTES:
            self._ignored(f"it is over {_MAX_BYTES:,} bytes")
            return None
        return data

    def _ignored(self, why: str) -> _Document:
        log.warning(
            "ignored the trust store %s: %s. Every folder mcp.json and bundle grant will be "
            "asked about again; the next approval replaces the file (delete it to start over)",
            self.path,
            why,
        )
        return _Document()


def trust_config(home: Path, path: Path) -> tuple[Approval, list[str]]:
    """Approve the `mcp.json` at `path` (or in folder `path`) as it is now.

    Returns:
        The approval, and one line per server saying what it runs or where it connects.

    Raises:
        ConfigError: The file is missing or not a JSON object; nothing was approved.
    """
    target = path / "mcp.json" if path.is_dir() else path
    try:
        data = target.read_bytes()
        document = json.loads(data)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        msg = f"cannot approve {target}: {exc}; give the path of an mcp.json"
        raise ConfigError(msg) from exc
    if not isinstance(document, dict):
        msg = f'cannot approve {target}: expected {{"mcpServers": {{...}}}}'
        raise ConfigError(msg)
    approval = TrustStore(home).approve_config(target, content_digest(data))
    return approval, config_summary(document)


def config_summary(document: Any) -> list[str]:
    """One line per server of an `mcp.json` document: its command line or URL, unexpanded.

    Control characters are shown escaped, so a file cannot hide what it runs from the
    person reading the line.
    """
    servers = document.get("mcpServers") if isinstance(document, dict) else None
    if not isinstance(servers, dict):
        return []
    lines = []
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            continue
        if "command" in entry:
            args = entry.get("args")
            parts = [entry["command"], *(args if isinstance(args, list) else [])]
            what = shlex.join(str(part) for part in parts)
        else:
            what = str(entry.get("url", "?"))
        if len(what) > _SUMMARY_CHARS:
            what = what[: _SUMMARY_CHARS - 1] + "…"
        lines.append(f"{_printable(str(name))}: {_printable(what)}")
    return lines


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _key(path: Path) -> str:
    return str(path.expanduser().resolve())


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= set("0123456789abcdef")


def _valid_config(key: object, entry: object) -> bool:
    return isinstance(key, str) and isinstance(entry, dict) and _is_digest(entry.get("sha256"))


def _valid_tool(digest: object, entry: object) -> bool:
    return _is_digest(digest) and isinstance(entry, dict) and isinstance(entry.get("tool"), str)


def _tool_name(label: object) -> str:
    """`local.fetch` of `local.fetch (history v2)`."""
    return str(label).split(" ", 1)[0]


def _when(entry: dict[str, Any]) -> float:
    when = entry.get("approved_at")
    return float(when) if isinstance(when, int | float) else 0.0


def _config_approval(key: str, entry: dict[str, Any]) -> Approval:
    return Approval("mcp.json", key, str(entry.get("sha256")), _when(entry))


def _tool_approval(digest: str, entry: dict[str, Any]) -> Approval:
    grants = entry.get("grants")
    granted = tuple(str(g) for g in grants) if isinstance(grants, list) else ()
    return Approval("tool", str(entry.get("tool")), digest, _when(entry), granted)
