"""Helpers shared by the bindings tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from toolkernel import ToolSpec
from toolkernel.bindings import BindingCache, generate_module

SNAPSHOTS = Path(__file__).parent / "snapshots"


@dataclass
class RecordingCaller:
    """A `Caller` that records every call and answers with `reply` (or `reply(...)`)."""

    reply: Any = "ok"
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, source: str, name: str, arguments: dict[str, Any]) -> Any:
        self.calls.append((source, name, arguments))
        return self.reply(source, name, arguments) if callable(self.reply) else self.reply


def tool(name: str, source: str = "demo", **kwargs: Any) -> ToolSpec:
    """A `ToolSpec` with defaults, for tests that need one or two tools."""
    return ToolSpec(source=source, name=name, **kwargs)


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object schema."""
    return {"type": "object", "properties": properties, "required": required or []}


def load_generated(source: str, specs: list[ToolSpec], tmp_path: Path) -> ModuleType:
    """Generate and load a bindings module through a fresh cache under `tmp_path`."""
    generate_module(source, specs)
    return BindingCache(tmp_path / "cache").load(source, specs)
