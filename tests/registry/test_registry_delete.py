"""Deleting registry tools: soft, shown in history, restorable, refused for MCP tools."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from toolkernel._spec import ToolSpec
from toolkernel.errors import RegistryError, ToolNotFound
from toolkernel.registry import ToolRegistry


def manifest(description: str) -> dict[str, object]:
    return {"description": description, "input_schema": {"type": "object"}}


@pytest.fixture
def registry(tmp_path: Path) -> ToolRegistry:
    return ToolRegistry(tmp_path / "home")


def test_delete_appends_a_tombstone_and_keeps_every_version(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="script", manifest=manifest("Count words."))
    registry.add_version("local.t", kind="script", manifest=manifest("Count words, v2."))
    tombstone = registry.delete_tool("local.t", author="ann")

    assert (tombstone.version, tombstone.deleted, tombstone.author) == (3, True, "ann")
    assert tombstone.note == "deleted"
    assert tombstone.manifest["description"] == "Count words, v2."  # says what was deleted
    history = registry.tool_versions("local.t")
    assert [(v.version, v.deleted) for v in history] == [(1, False), (2, False), (3, True)]
    assert "deleted" in repr(history[-1])
    assert registry.tool_version("local.t").deleted


def test_a_deleted_tool_leaves_listing_search_and_catalog(registry: ToolRegistry) -> None:
    registry.add_version("local.keep", kind="wasm", manifest=manifest("Keep me around."))
    registry.add_version("local.gone", kind="wasm", manifest=manifest("Count words in text."))
    registry.delete_tool("local.gone")

    assert [v.name for v in registry.registry_tools()] == ["local.keep"]
    assert [v.name for v in registry.registry_tools(include_deleted=True)] == [
        "local.gone",
        "local.keep",
    ]
    assert registry.search("count words") == []
    assert [s.name for s in registry.load_catalogs()["local"]] == ["keep"]
    with pytest.raises(ToolNotFound):
        registry.get_tool("local.gone")


def test_restore_brings_back_the_content_before_the_delete(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("Count words in text."))
    registry.delete_tool("local.t")
    restored = registry.restore_tool("local.t", author="bob")

    assert (restored.version, restored.rollback_of, restored.deleted) == (3, 1, False)
    assert restored.content_hash == registry.tool_version("local.t", 1).content_hash
    assert restored.note == "restored (version 1)"
    assert [hit.spec.name for hit in registry.search("count words")] == ["t"]


def test_rollback_of_a_deleted_tool_restores_it_and_a_tombstone_is_refused(
    registry: ToolRegistry,
) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("One."))
    registry.add_version("local.t", kind="wasm", manifest=manifest("Two."))
    registry.delete_tool("local.t")
    with pytest.raises(RegistryError, match=r"version 3 of 'local\.t' is its delete"):
        registry.rollback_tool("local.t", 3)

    restored = registry.rollback_tool("local.t", 1)
    assert (restored.version, restored.manifest["description"]) == (4, "One.")
    assert [v.name for v in registry.registry_tools()] == ["local.t"]


def test_a_deleted_name_can_be_created_again_as_a_new_version(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("Same content."))
    registry.delete_tool("local.t")
    again = registry.add_version("local.t", kind="script", manifest=manifest("Same content."))

    assert (again.version, again.kind, again.deleted) == (3, "script", False)
    assert [v.name for v in registry.registry_tools()] == ["local.t"]


def test_deleting_twice_or_restoring_a_live_tool_says_what_to_do(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("x"))
    with pytest.raises(RegistryError, match=r"'local\.t' is not deleted: its version 1"):
        registry.restore_tool("local.t")
    registry.delete_tool("local.t")
    with pytest.raises(RegistryError, match=r"already deleted .*restore_tool\('local\.t'\)"):
        registry.delete_tool("local.t")
    assert len(registry.tool_versions("local.t")) == 2


@pytest.mark.parametrize("name", ["local.nope", "nope.nope", "../etc.passwd", "primes", 7])
def test_deleting_an_unknown_or_unsafe_name_writes_nothing(
    registry: ToolRegistry, name: object
) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("x"))
    with pytest.raises(RegistryError):
        registry.delete_tool(name)  # type: ignore[arg-type]
    with pytest.raises(RegistryError):
        registry.restore_tool(name)  # type: ignore[arg-type]
    assert [v.version for v in registry.tool_versions("local.t")] == [1]


@pytest.mark.parametrize("name", ["my-server.get-weather", "my_server.get_weather"])
def test_an_mcp_servers_tool_cannot_be_deleted(registry: ToolRegistry, name: str) -> None:
    registry.save_catalog("my-server", [ToolSpec("my-server", "get-weather", "Weather.")])
    with pytest.raises(RegistryError, match=r"MCP server 'my-server'.*remove_server"):
        registry.delete_tool(name)
    assert registry.get_tool("my-server.get-weather").name == "get-weather"


def test_a_manifest_may_not_claim_to_be_a_delete(registry: ToolRegistry) -> None:
    with pytest.raises(RegistryError, match="marks a delete"):
        registry.add_version("local.t", kind="wasm", manifest={"deleted": True})
    assert registry.registry_tools(include_deleted=True) == []


def test_a_delete_from_before_tombstones_is_restored_in_place(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("Count words."))
    with sqlite3.connect(registry.path) as conn:  # how toolkernel once deleted: a mark only
        conn.execute("UPDATE tools SET deleted_at = 1 WHERE name = 'local.t'")
    with pytest.raises(RegistryError, match="already deleted"):
        registry.delete_tool("local.t")
    assert registry.restore_tool("local.t").version == 1
    assert [v.name for v in registry.registry_tools()] == ["local.t"]


def test_delete_and_restore_tell_in_process_listeners(registry: ToolRegistry) -> None:
    registry.add_version("local.t", kind="wasm", manifest=manifest("x"))
    seen: list[list[str]] = []
    registry.on_tools_changed(lambda: seen.append([v.name for v in registry.registry_tools()]))
    registry.delete_tool("local.t")
    registry.restore_tool("local.t")
    assert seen == [[], ["local.t"]]


def delete_at_once(home: str, barrier: threading.Barrier, results: object) -> None:
    """Run in a child process: delete one shared tool at the same moment as another."""
    with ToolRegistry(Path(home)) as registry:
        barrier.wait(timeout=60)
        try:
            registry.delete_tool("local.shared")
        except RegistryError as exc:
            results.put(str(exc))  # type: ignore[attr-defined]
        else:
            results.put("deleted")  # type: ignore[attr-defined]


def test_two_processes_deleting_one_tool_make_one_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ToolRegistry(home) as registry:
        registry.add_version("local.shared", kind="wasm", manifest=manifest("Shared."))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=delete_at_once, args=(str(home), barrier, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=90) for _ in workers)
    for worker in workers:
        worker.join(timeout=90)

    assert [worker.exitcode for worker in workers] == [0, 0]
    assert outcomes[0] == "deleted"
    assert "already deleted" in outcomes[1]
    with ToolRegistry(home) as registry:
        assert [v.deleted for v in registry.tool_versions("local.shared")] == [False, True]
        assert registry.registry_tools() == []
