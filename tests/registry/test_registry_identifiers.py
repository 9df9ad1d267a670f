"""A tool can be looked up by the Python name its binding has, whatever its spelling."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from toolkernel import ToolSpec
from toolkernel.bindings import generate_module
from toolkernel.registry import ToolRegistry
from toolkernel.registry._db import MIGRATIONS

# Spellings where the registry's old sanitiser and the bindings' rules disagreed: a
# leading digit, a keyword, a builtin the generated module uses, a dunder, a non-ASCII
# letter, and two names that sanitise alike.
AWKWARD = {
    "2fa.check": "_2fa_check",
    "class": "class_",
    "list": "list_",
    "__init__": "__init___",
    "café": "café",
    "a-b": "a_b_2",
    "a_b": "a_b",
    "get-weather": "get_weather",
}


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    with ToolRegistry(home) as reg:
        reg.save_catalog("srv", [ToolSpec("srv", name, f"Tool {name}") for name in AWKWARD])
        yield reg


def test_the_binding_names_are_the_ones_users_already_have() -> None:
    specs = [ToolSpec("srv", name, "") for name in AWKWARD]
    assert generate_module("srv", specs).functions == {py: n for n, py in AWKWARD.items()}


@pytest.mark.parametrize(("name", "python_name"), sorted(AWKWARD.items()))
def test_get_tool_finds_a_tool_by_its_binding_name(
    registry: ToolRegistry, name: str, python_name: str
) -> None:
    assert registry.get_tool(f"srv.{python_name}").name == name
    assert registry.get_tool(f"srv.{name}").name == name


def test_a_registry_tool_named_like_a_builtin_is_found_by_its_binding_name(
    registry: ToolRegistry,
) -> None:
    registry.add_version("local.list", kind="script", manifest={"description": "List"})
    assert registry.get_tool("local.list_").qualified_name == "local.list"


def test_search_by_a_numbered_binding_name_finds_its_tool(registry: ToolRegistry) -> None:
    assert registry.search("a_b_2", sources=["srv"])[0].spec.name == "a-b"


def test_a_registry_written_before_gets_binding_identifiers_when_opened(home: Path) -> None:
    with ToolRegistry(home) as registry:
        registry.save_catalog("srv", [ToolSpec("srv", "2fa.check", ""), ToolSpec("srv", "a-b", "")])
    with closing(sqlite3.connect(home / "registry.db", isolation_level=None)) as conn:
        # What a registry of schema 2 held: `[^A-Za-z0-9_]` became `_`, nothing more.
        conn.execute("UPDATE tool_index SET ident = replace(replace(name, '.', '_'), '-', '_')")
        conn.execute("PRAGMA user_version = 2")

    with ToolRegistry(home) as registry:
        assert registry.get_tool("srv._2fa_check").name == "2fa.check"
        assert registry.get_tool("srv.a_b").name == "a-b"
    with closing(sqlite3.connect(home / "registry.db")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
