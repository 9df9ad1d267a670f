import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import RegistryError, ToolSpec, catalog_hash
from toolkernel.registry import CatalogSnapshot, ToolRegistry


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


def fs_tools(source: str = "fs", *, extra: str = "") -> list[ToolSpec]:
    return [
        ToolSpec(
            source,
            "read_file",
            "Read the complete contents of a file" + extra,
            {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "File to read"}},
                "required": ["path"],
            },
            output_schema={"type": "object", "properties": {"text": {"type": "string"}}},
            annotations={"readOnlyHint": True},
            title="Read file",
        ),
        ToolSpec(source, "write-file", "Create or overwrite a file"),
        ToolSpec(source, "listDirectory", "List the entries of a directory"),
    ]


def test_saved_catalog_loads_back_equal(registry: ToolRegistry) -> None:
    specs = fs_tools()

    assert registry.save_catalog("fs", specs) is True

    assert registry.load_catalog("fs") == specs
    assert registry.catalog_hash("fs") == catalog_hash(specs)


def test_unknown_source_has_no_catalog_hash_or_history(registry: ToolRegistry) -> None:
    assert registry.load_catalog("nope") is None
    assert registry.catalog_hash("nope") is None
    assert registry.catalog_history("nope") == []


def test_unchanged_catalog_is_not_snapshotted_again(registry: ToolRegistry) -> None:
    registry.save_catalog("fs", fs_tools())

    assert registry.save_catalog("fs", fs_tools()) is False
    assert registry.save_catalog("fs", list(reversed(fs_tools()))) is False

    assert len(registry.catalog_history("fs")) == 1


def test_history_keeps_every_change_oldest_first(registry: ToolRegistry) -> None:
    versions = [fs_tools(), fs_tools(extra="!"), fs_tools()[:1], fs_tools()]
    before = time.time()

    changed = [registry.save_catalog("fs", specs) for specs in versions]

    assert changed == [True, True, True, True]
    history = registry.catalog_history("fs")
    assert [snap.hash for snap in history] == [catalog_hash(specs) for specs in versions]
    assert [snap.tool_count for snap in history] == [3, 3, 1, 3]
    assert all(isinstance(snap, CatalogSnapshot) and snap.source == "fs" for snap in history)
    stamps = [snap.created_at for snap in history]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] <= time.time()
    assert registry.load_catalog("fs") == versions[-1]


def test_load_catalogs_returns_the_latest_snapshot_of_every_source(
    registry: ToolRegistry,
) -> None:
    registry.save_catalog("fs", fs_tools())
    registry.save_catalog("fs", fs_tools(extra=" (v2)"))
    registry.save_catalog("other", fs_tools("other"))
    registry.save_catalog("empty", [])

    catalogs = registry.load_catalogs()

    assert catalogs == {
        "empty": [],
        "fs": fs_tools(extra=" (v2)"),
        "other": fs_tools("other"),
    }


def test_load_catalogs_of_a_fresh_registry_is_empty(registry: ToolRegistry) -> None:
    assert registry.load_catalogs() == {}


def test_snapshot_stores_tools_as_one_json_row(registry: ToolRegistry) -> None:
    registry.save_catalog("fs", fs_tools())

    with sqlite3.connect(registry.path) as conn:
        rows = conn.execute("SELECT tools_json FROM catalog_snapshots").fetchall()

    assert len(rows) == 1
    assert [tool["name"] for tool in json.loads(rows[0][0])] == [
        "read_file",
        "write-file",
        "listDirectory",
    ]


def test_saving_a_catalog_replaces_the_source_in_lookups(registry: ToolRegistry) -> None:
    registry.save_catalog("fs", fs_tools())
    registry.save_catalog("other", fs_tools("other"))

    registry.save_catalog("fs", [ToolSpec("fs", "stat", "Show file metadata")])

    assert [spec.name for spec in registry.list_tools("fs")] == ["stat"]
    assert [hit.spec.name for hit in registry.search("file", sources=["fs"])] == ["stat"]
    assert len(registry.list_tools("other")) == 3


def test_spec_of_another_source_is_rejected_and_nothing_is_written(
    registry: ToolRegistry,
) -> None:
    registry.save_catalog("fs", fs_tools())

    with pytest.raises(RegistryError, match="source='fs'"):
        registry.save_catalog("fs", [*fs_tools(extra="!"), ToolSpec("web", "fetch")])

    assert registry.load_catalog("fs") == fs_tools()
    assert len(registry.catalog_history("fs")) == 1


def test_duplicate_tool_names_are_rejected(registry: ToolRegistry) -> None:
    with pytest.raises(RegistryError, match="twice"):
        registry.save_catalog("fs", [ToolSpec("fs", "a"), ToolSpec("fs", "a", "again")])

    assert registry.load_catalogs() == {}
    assert registry.list_tools() == []


def test_schema_that_is_not_json_is_rejected_and_the_old_catalog_stays(
    registry: ToolRegistry,
) -> None:
    registry.save_catalog("fs", fs_tools())
    bad = ToolSpec("fs", "weird", "x", {"type": "object", "default": {1, 2}})

    with pytest.raises(RegistryError, match="JSON"):
        registry.save_catalog("fs", [bad])

    assert registry.load_catalog("fs") == fs_tools()
    assert [spec.name for spec in registry.list_tools()] == [
        "listDirectory",
        "read_file",
        "write-file",
    ]


def test_text_utf8_cannot_hold_is_rejected(registry: ToolRegistry) -> None:
    with pytest.raises(RegistryError):
        registry.save_catalog("fs", [ToolSpec("fs", "bad", "lone surrogate \ud800")])

    assert registry.load_catalogs() == {}


@pytest.mark.parametrize("source", ["", None])
def test_empty_source_name_is_rejected(registry: ToolRegistry, source: str) -> None:
    with pytest.raises(RegistryError, match="non-empty source"):
        registry.save_catalog(source, [])


def test_failing_write_inside_the_transaction_rolls_back_fully(
    registry: ToolRegistry,
) -> None:
    registry.save_catalog("fs", fs_tools())
    # A trigger makes the index insert fail after the snapshot row was written.
    with sqlite3.connect(registry.path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_insert BEFORE INSERT ON tool_index WHEN new.name = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
        )

    with pytest.raises(RegistryError, match="boom refused"):
        registry.save_catalog("fs", [ToolSpec("fs", "ok"), ToolSpec("fs", "boom")])

    assert len(registry.catalog_history("fs")) == 1
    assert registry.load_catalog("fs") == fs_tools()
    assert len(registry.list_tools("fs")) == 3
    assert registry.search("boom") == []
    assert registry.save_catalog("fs", [ToolSpec("fs", "ok")]) is True


@pytest.mark.parametrize(
    "spec",
    [
        ToolSpec("fs", "a", description=None),  # type: ignore[arg-type]
        ToolSpec("fs", "a", title=7),  # type: ignore[arg-type]
        ToolSpec("fs", "a", input_schema=["not", "a", "dict"]),  # type: ignore[arg-type]
        ToolSpec("fs", ""),
        "fs.a",
    ],
)
def test_malformed_spec_is_rejected_with_registry_error(
    registry: ToolRegistry, spec: ToolSpec
) -> None:
    with pytest.raises(RegistryError):
        registry.save_catalog("fs", [spec])

    assert registry.load_catalogs() == {}
