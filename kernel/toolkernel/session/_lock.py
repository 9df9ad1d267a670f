"""Reproducible notebooks: record the tools a session used, lock them, pin them on open.

The kernel records every tool a cell calls: for a registry tool, the version that ran;
for an MCP tool, a hash of its schema and of its server's catalog; a script tool's
version also fixes the exact dependency versions it installs, which the lock lists.
`%tools lock`
displays that record as an output (MIME type `LOCK_MIME`), so it is saved with the
notebook the person has open, by its next save, and never written behind the
frontend's back; the Tools panel also copies it into the notebook's metadata
(`metadata.toolkernel.lock`). `%tools lock PATH` writes it into a notebook file that is
not open. A kernel started for a locked notebook (Jupyter Server names it in
`$JPY_SESSION_NAME`) pins each registry tool to its locked version, and warns, naming
the tool, when an MCP server's live schema drifted from the locked one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel._spec import ToolSpec
from toolkernel._words import plural
from toolkernel.errors import ToolkernelError

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry

__all__ = [
    "LOCK_KEY",
    "LOCK_MIME",
    "SchemaDrift",
    "ToolLock",
    "lock_bundle",
    "notebook_path",
    "read_lock",
    "schema_hash",
    "write_lock",
]

log = logging.getLogger("toolkernel.kernel")

LOCK_KEY = "toolkernel"
"""The notebook metadata key; the lock is `metadata[LOCK_KEY]["lock"]`."""

LOCK_MIME = "application/vnd.toolkernel.lock+json"
"""The MIME type of the output `%tools lock` displays; its data is `{"lock": lock}`."""


class SchemaDrift(UserWarning):
    """An MCP tool's live schema differs from the one the notebook was locked with."""


def notebook_path() -> Path | None:
    """The notebook this kernel runs for, when Jupyter Server says (`$JPY_SESSION_NAME`)."""
    name = os.environ.get("JPY_SESSION_NAME", "")
    path = Path(name)
    return path if name.endswith(".ipynb") and path.is_file() else None


def schema_hash(spec: ToolSpec) -> str:
    """A short hash of what a binding depends on: the input and output schemas."""
    data = json.dumps([spec.input_schema, spec.output_schema], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


class ToolLock:
    """What this session used, and the pins it was started with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.used: dict[str, dict[str, Any]] = {}
        """Qualified name -> `{"version": n}` (registry) or `{"schema": hash}` (MCP)."""
        self.pins: dict[str, int] = {}
        """Registry tool -> the version a locked notebook asks for."""
        self._locked_schemas: dict[str, str] = {}
        self._warned: set[str] = set()

    # -- recording -------------------------------------------------------------------

    def record(self, name: str, entry: dict[str, Any]) -> None:
        """Remember that `name` was called (`{"version": n}` or `{"schema": h}`)."""
        with self._lock:
            self.used[name] = entry

    def snapshot(self, registry: ToolRegistry | None = None) -> dict[str, Any]:
        """The lock to write: every tool used so far, sorted by name.

        With `registry`, a registry tool's entry also lists the exact dependency
        versions its version installs (`"dependencies": ["six==1.17.0"]`), for the
        reader: pinning the version is what pins them.
        """
        with self._lock:
            tools = {name: dict(entry) for name, entry in sorted(self.used.items())}
        for name, entry in tools.items():
            pins = _dependencies(registry, name, entry.get("version"))
            if pins:
                entry["dependencies"] = pins
        return {"tools": tools}

    # -- pinning ---------------------------------------------------------------------

    def load(self, lock: dict[str, Any]) -> None:
        """Take the pins and locked schemas of a notebook's lock."""
        for name, entry in (lock.get("tools") or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("version"), int):
                self.pins[name] = entry["version"]
            elif isinstance(entry, dict) and isinstance(entry.get("schema"), str):
                self._locked_schemas[name] = entry["schema"]

    def check_drift(self, spec: ToolSpec) -> None:
        """Warn once if `spec`'s live schema differs from the locked one."""
        name = spec.qualified_name
        locked = self._locked_schemas.get(name)
        if locked is None or name in self._warned or locked == schema_hash(spec):
            return
        self._warned.add(name)
        warnings.warn(
            f"{name}: the server's tool schema changed since this notebook was locked; "
            "results may differ. Run `%tools lock` again to accept the new schema.",
            SchemaDrift,
            stacklevel=2,
        )


def _dependencies(registry: ToolRegistry | None, name: str, version: object) -> list[str]:
    """The pins version `version` of registry tool `name` recorded, if any."""
    if registry is None or not isinstance(version, int):
        return []
    try:
        pins = registry.tool_version(name, version).manifest.get("resolved")
    except ToolkernelError:
        return []
    return [str(pin) for pin in pins] if isinstance(pins, list) else []


def lock_bundle(lock: dict[str, Any]) -> dict[str, Any]:
    """The MIME bundle `%tools lock` displays: the lock, and a summary as plain text."""
    rows = [
        f"  {name}: "
        + (f"version {e['version']}" if "version" in e else f"schema {e['schema']}")
        + (f" ({', '.join(e['dependencies'])})" if e.get("dependencies") else "")
        for name, e in lock["tools"].items()
    ]
    summary = "\n".join(rows) or "  (no tool has been called yet)"
    locked = plural(len(lock["tools"]), "tool")
    text = f"Locked {locked}; saving the notebook keeps the lock:\n{summary}"
    return {LOCK_MIME: {"lock": lock}, "text/plain": text}


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock stored in notebook `path`, or None (no lock, or unreadable).

    The newest `%tools lock` output wins; without one, the notebook's metadata.
    """
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("could not read %s for a tool lock: %s", path, exc)
        return None
    if not isinstance(notebook, dict):
        return None
    found = [_output_lock(output) for output in _outputs(notebook)]
    locks = [lock for lock in found if lock is not None]
    if locks:
        return locks[-1]
    lock = ((notebook.get("metadata") or {}).get(LOCK_KEY) or {}).get("lock")
    return lock if isinstance(lock, dict) else None


def _outputs(notebook: dict[str, Any]) -> list[Any]:
    cells = notebook.get("cells")
    return [
        output
        for cell in (cells if isinstance(cells, list) else ())
        if isinstance(cell, dict) and isinstance(cell.get("outputs"), list)
        for output in cell["outputs"]
    ]


def _output_lock(output: Any) -> dict[str, Any] | None:
    data = output.get("data") if isinstance(output, dict) else None
    entry = data.get(LOCK_MIME) if isinstance(data, dict) else None
    lock = entry.get("lock") if isinstance(entry, dict) else None
    return lock if isinstance(lock, dict) else None


def write_lock(path: Path, lock: dict[str, Any]) -> None:
    """Store `lock` in notebook `path`'s metadata, atomically (a temp file renamed).

    Raises:
        OSError: The notebook cannot be read or written.
        ValueError: The file is not a notebook (not JSON).
    """
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook.setdefault("metadata", {}).setdefault(LOCK_KEY, {})["lock"] = lock
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lock-", suffix=".ipynb")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(notebook, file, indent=1, ensure_ascii=False)
            file.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
