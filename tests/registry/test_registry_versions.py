"""Registry tools as immutable versions: create, update, rollback, delete, search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from toolkernel._spec import ToolSpec
from toolkernel.errors import RegistryError, ToolNotFound
from toolkernel.registry import ToolRegistry


def manifest(description: str, **extra: object) -> dict[str, object]:
    return {
        "description": description,
        "input_schema": {"type": "object", "properties": {"limit": {"type": "integer"}}},
        **extra,
    }


@pytest.fixture
def registry(tmp_path: Path) -> ToolRegistry:
    return ToolRegistry(tmp_path / "home")


def test_first_version_creates_the_tool(registry: ToolRegistry) -> None:
    version = registry.add_version(
        "local.primes", kind="wasm", manifest=manifest("Primes up to a limit."), note="first"
    )
    assert (version.name, version.version, version.kind) == ("local.primes", 1, "wasm")
    assert version.namespace == "local"
    assert version.tool == "primes"
    assert version.note == "first"
    assert registry.tool_version("local.primes") == version
    assert [v.name for v in registry.registry_tools()] == ["local.primes"]


def test_each_change_is_a_new_version_and_identical_content_is_not(
    registry: ToolRegistry,
) -> None:
    registry.add_version("local.primes", kind="wasm", manifest=manifest("one"))
    registry.add_version("local.primes", kind="wasm", manifest=manifest("two"))
    again = registry.add_version("local.primes", kind="wasm", manifest=manifest("two"))
    assert again.version == 2
    assert [v.manifest["description"] for v in registry.tool_versions("local.primes")] == [
        "one",
        "two",
    ]


def test_rollback_keeps_history_over_twenty_updates_and_rollbacks(
    registry: ToolRegistry,
) -> None:
    for i in range(10):
        registry.add_version("local.t", kind="wasm", manifest=manifest(f"v{i}"))
    for i in range(10):
        registry.rollback_tool("local.t", 1 + i % 3)
    history = registry.tool_versions("local.t")
    assert [v.version for v in history] == list(range(1, 21))
    assert history[-1].rollback_of == 1 + 9 % 3
    assert history[-1].manifest == history[9 % 3].manifest
    assert history[-1].note == f"rollback to version {1 + 9 % 3}"
    assert registry.tool_version("local.t").version == 20


def test_versions_cannot_be_edited_or_deleted_in_the_database(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("one"))
    conn = sqlite3.connect(registry.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE tool_versions SET note = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            conn.execute("DELETE FROM tool_versions")
    finally:
        conn.close()


def test_a_missing_version_names_the_available_range(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("one"))
    registry.add_version("local.t", kind="wasm", manifest=manifest("two"))
    with pytest.raises(ToolNotFound, match=r"has no version 7; available: 1-2") as info:
        registry.tool_version("local.t", 7)
    assert info.value.version == 7


def test_an_unknown_tool_lists_the_namespace(registry: ToolRegistry) -> None:
    registry.add_version("local.primes", kind="wasm", manifest=manifest("one"))
    with pytest.raises(ToolNotFound, match=r"no registry tool 'local\.prime'.*local\.primes"):
        registry.tool_versions("local.prime")


def test_delete_is_soft_and_restore_brings_the_tool_back(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("Count words in text."))
    registry.delete_tool("local.t")
    assert registry.registry_tools() == []
    assert registry.search("count words") == []
    assert [v.deleted for v in registry.tool_versions("local.t")] == [False, True]
    assert registry.restore_tool("local.t").version == 3
    assert [hit.spec.name for hit in registry.search("count words")] == ["t"]


def test_registry_tools_are_searchable_and_listed_like_mcp_tools(registry: ToolRegistry) -> None:
    registry.add_version("local.primes", kind="wasm", manifest=manifest("Generate prime numbers."))
    hits = registry.search("prime numbers")
    assert [hit.spec.qualified_name for hit in hits] == ["local.primes"]
    assert hits[0].spec.kind == "wasm"
    assert registry.get_tool("local.primes").description == "Generate prime numbers."
    assert registry.load_catalogs()["local"][0].name == "primes"


@pytest.mark.parametrize(
    "name",
    [
        "primes",
        "local.",
        ".primes",
        "local/primes",
        "../etc.passwd",
        "local.a.b",
        "local.class",
        "local.pr-imes",
        "lo cal.x",
        "local." + "x" * 65,
        "local.ünï",
    ],
)
def test_unsafe_names_are_refused_and_nothing_is_written(registry: ToolRegistry, name: str) -> None:
    with pytest.raises(RegistryError, match="invalid tool name"):
        registry.add_version(name, kind="wasm", manifest=manifest("x"))
    assert registry.registry_tools(include_deleted=True) == []


def test_a_namespace_that_is_an_mcp_server_is_refused(registry: ToolRegistry) -> None:
    registry.save_catalog("github", [ToolSpec(source="github", name="search")])
    with pytest.raises(RegistryError, match="'github' is an MCP server's name"):
        registry.add_version("github.mine", kind="wasm", manifest=manifest("x"))
    assert [spec.name for spec in registry.list_tools("github")] == ["search"]


@pytest.mark.parametrize(
    ("kind", "bad", "message"),
    [
        ("wasm", {"input_schema": {"type": "array"}}, "must be a JSON Schema object"),
        ("wasm", {"description": 3}, "must be a str"),
        ("wasm", {"x": {1, 2}}, "must be JSON"),
        ("binary", {}, "unknown tool kind"),
    ],
)
def test_bad_manifests_are_refused(
    registry: ToolRegistry, kind: str, bad: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.add_version("local.t", kind=kind, manifest=bad)
    assert registry.namespaces() == []


def test_a_diff_shows_source_and_schema_changes(registry: ToolRegistry) -> None:
    one = registry.put_blob(b"int main(void) {\n    return 0;\n}\n")
    two = registry.put_blob(b"int main(void) {\n    return 1;\n}\n")
    registry.add_version(
        "local.t", kind="wasm", manifest={**manifest("v1"), "source": {"main.c": one}}
    )
    registry.add_version(
        "local.t", kind="wasm", manifest={**manifest("v2"), "source": {"main.c": two}}
    )
    diff = registry.diff_tool("local.t", 1, 2)
    assert "--- a/main.c (v1)\n+++ b/main.c (v2)\n" in diff
    assert "-    return 0;\n+    return 1;\n" in diff
    assert '-  "description": "v1",\n+  "description": "v2",\n' in diff
    assert registry.diff_tool("local.t", 2) == ""
    registry.rollback_tool("local.t", 1)
    assert registry.diff_tool("local.t", 1, 3) == ""
