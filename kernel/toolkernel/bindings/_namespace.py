"""The `tools` namespace users see: one module per source, importable and completable."""

from __future__ import annotations

import difflib
import importlib.machinery
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import NoReturn

from toolkernel._markup import markdown_cell
from toolkernel._spec import ToolSpec
from toolkernel._words import plural
from toolkernel.bindings._generate import safe_catalog_hash
from toolkernel.bindings._loader import BindingCache
from toolkernel.bindings._names import NAMESPACE_ATTRIBUTES, source_identifier
from toolkernel.errors import ToolNotFound

__all__ = ["ToolsNamespace"]


_STATE_NAMES = frozenset({"_tk_cache", "_tk_entries", "_tk_explain", "_tk_installed"})

Explain = Callable[[str], str | None]
"""Says why `tools.<attr>` is not loaded (a server that failed, say), or None."""


@dataclass
class _Entry:
    name: str
    digest: str
    module: ModuleType


class ToolsNamespace(ModuleType):
    """The `tools` package: `tools.<source>.<tool>`, `from tools.<source> import <tool>`.

    Each source's bindings module is an attribute (`tools.filesystem`) and, while the
    namespace is installed, also `sys.modules["tools.filesystem"]`, so every import
    form works. Source names are sanitized like tool names (`my-server` lives at
    `tools.my_server`); a source whose name is taken by another gets `_2`.
    """

    def __init__(
        self, cache: BindingCache, *, name: str = "tools", explain: Explain | None = None
    ) -> None:
        """Create an empty namespace whose modules load through `cache`.

        `explain(attr)` tells why `tools.<attr>` is missing when it names a source that
        is configured but not loaded (its server failed, or is still connecting); the
        text goes into the `AttributeError`.
        """
        super().__init__(name, "Typed bindings for every connected tool source.")
        self.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        self.__path__: list[str] = []
        self._tk_cache = cache
        self._tk_entries: dict[str, _Entry] = {}
        self._tk_explain = explain
        self._tk_installed = False

    def set_source(self, source: str, specs: list[ToolSpec]) -> ModuleType:
        """Add or replace the bindings of `source` (a `tools/list_changed` refresh lands here).

        Unchanged catalogs keep their module. On failure the previous module stays.
        Functions imported earlier from a replaced module keep working: calls are
        routed by the source and tool names, not by module.
        """
        entry = self._tk_entries.get(source)
        digest = safe_catalog_hash(specs)
        if entry is not None and entry.digest == digest:
            return entry.module
        name = entry.name if entry is not None else self._free_name(source)
        module = self._tk_cache.load(source, specs, name=name, package=self.__name__, digest=digest)
        vars(module)["__getattr__"] = _missing_tool(source, module)  # PEP 562
        self._tk_entries[source] = _Entry(name, digest, module)
        setattr(self, name, module)
        if self._tk_installed:
            sys.modules[module.__name__] = module
        return module

    def remove_source(self, source: str) -> None:
        """Drop the bindings of `source`; unknown sources are ignored."""
        entry = self._tk_entries.pop(source, None)
        if entry is None:
            return
        self.__dict__.pop(entry.name, None)
        if sys.modules.get(entry.module.__name__) is entry.module:
            del sys.modules[entry.module.__name__]

    def sources(self) -> list[str]:
        """Return the original names of the loaded sources, sorted."""
        return sorted(self._tk_entries)

    def module(self, source: str) -> ModuleType:
        """Return the bindings module of `source`, by its original name.

        Raises:
            ToolNotFound: No such source is loaded.
        """
        entry = self._tk_entries.get(source)
        if entry is None:
            msg = f"no tool source {source!r} is loaded; loaded: {self._listing()}"
            raise ToolNotFound(msg, tool=source)
        return entry.module

    def python_source(self, source: str) -> str:
        """Return the attribute name of `source` under this namespace (`my-server` -> `my_server`).

        For a source not loaded yet, the name it would get if it were added now.
        """
        entry = self._tk_entries.get(source)
        return entry.name if entry is not None else self._free_name(source)

    def python_name(self, source: str, tool: str) -> str:
        """Return the binding function name of `tool` (its original name) in `source`.

        Raises:
            ToolNotFound: The source is not loaded, or has no such tool.
        """
        tools: dict[str, str] = self.module(source).__toolkernel_tools__
        for python, original in tools.items():
            if original == tool:
                return python
        msg = f"source {source!r} has no tool {tool!r}; its tools: {', '.join(tools.values())}"
        raise ToolNotFound(msg, tool=f"{source}.{tool}")

    def install(self) -> None:
        """Register as `sys.modules[<name>]`, with every source module under it."""
        sys.modules[self.__name__] = self
        for entry in self._tk_entries.values():
            sys.modules[entry.module.__name__] = entry.module
        self._tk_installed = True

    def uninstall(self) -> None:
        """Remove this namespace and its source modules from `sys.modules`."""
        for entry in self._tk_entries.values():
            if sys.modules.get(entry.module.__name__) is entry.module:
                del sys.modules[entry.module.__name__]
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        self._tk_installed = False

    def __getattr__(self, attr: str) -> ModuleType:
        if attr.startswith("_"):
            raise AttributeError(attr)
        why = self._tk_explain(attr) if self._tk_explain is not None else None
        if why:
            msg = f"{self.__name__}.{attr} is unavailable: {why}"
            raise AttributeError(msg)
        close = difflib.get_close_matches(attr, [e.name for e in self._tk_entries.values()], n=3)
        hint = f"; did you mean {' or '.join(f'tools.{c}' for c in close)}?" if close else ""
        msg = f"no tool source {attr!r} in {self.__name__}; loaded: {self._listing()}{hint}"
        raise AttributeError(msg)

    def __dir__(self) -> list[str]:
        return sorted({*(e.name for e in self._tk_entries.values()), *NAMESPACE_ATTRIBUTES})

    def __repr__(self) -> str:
        return f"<{self.__name__}: {self._listing()}>"

    def _repr_markdown_(self) -> str:
        rows = [
            f"| `{self.__name__}.{entry.name}` | {markdown_cell(source)} "
            f"| {_tool_count(entry.module)} |"
            for source, entry in sorted(self._tk_entries.items())
        ]
        table = ["| module | source | tools |", "|---|---|---|", *rows]
        return "\n".join(table) if rows else f"`{self.__name__}`: no tool sources loaded"

    def _listing(self) -> str:
        if not self._tk_entries:
            return "none (no server has connected yet, or none is configured)"
        return ", ".join(
            f"{entry.name} ({plural(_tool_count(entry.module), 'tool')})"
            for _, entry in sorted(self._tk_entries.items())
        )

    def _free_name(self, source: str) -> str:
        taken = {entry.name for entry in self._tk_entries.values()}
        return source_identifier(source, taken | _STATE_NAMES)


def _missing_tool(source: str, module: ModuleType) -> Callable[[str], NoReturn]:
    """The module's `__getattr__`: an unknown tool's error names close ones and search."""

    def __getattr__(attr: str) -> NoReturn:
        if attr.startswith("__"):
            raise AttributeError(attr)
        tools: dict[str, str] = getattr(module, "__toolkernel_tools__", {})
        close = difflib.get_close_matches(attr, list(tools), n=3)
        hint = f"; did you mean {' or '.join(repr(name) for name in close)}?" if close else "."
        words = " ".join(attr.replace("_", " ").split()) or attr
        msg = (
            f"{module.__name__} has no tool {attr!r}{hint} "
            f"list_tool_names({source!r}) lists its tools; "
            f"search_tools({words!r}) finds tools by what they do"
        )
        raise AttributeError(msg)

    return __getattr__


def _tool_count(module: ModuleType) -> int:
    return len(getattr(module, "__toolkernel_tools__", {}))
