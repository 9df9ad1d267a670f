"""`ToolRegistry.watch()`: one registry writes, a watcher on another connection sees it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import RegistryError, ToolSpec
from toolkernel.registry import ToolRegistry


@pytest.fixture
def writer(home: Path) -> Iterator[ToolRegistry]:
    with ToolRegistry(home) as reg:
        yield reg


@pytest.fixture
def reader(home: Path, writer: ToolRegistry) -> Iterator[ToolRegistry]:
    with ToolRegistry(home) as reg:
        yield reg


def tokens(reader: ToolRegistry) -> tuple[str, str]:
    watcher = reader.watch()
    return watcher.token(), watcher.tools_token()


def test_a_catalog_saved_elsewhere_changes_both_tokens(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    watcher = reader.watch()
    before = (watcher.token(), watcher.tools_token())
    assert (watcher.token(), watcher.tools_token()) == before

    writer.save_catalog("fs", [ToolSpec("fs", "read_file", "Read a file")])

    after = (watcher.token(), watcher.tools_token())
    assert after[0] != before[0]
    assert after[1] != before[1]
    assert watcher.changed_elsewhere()
    assert not watcher.changed_elsewhere()


def test_every_kind_of_tool_change_moves_the_tools_token(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    watcher = reader.watch()
    seen = {watcher.tools_token()}
    changes = [
        lambda: writer.add_version("local.a", kind="script", manifest={"description": "1"}),
        lambda: writer.add_version("local.a", kind="script", manifest={"description": "2"}),
        lambda: writer.rollback_tool("local.a", 1),
        lambda: writer.delete_tool("local.a"),
        lambda: writer.restore_tool("local.a"),
    ]
    for change in changes:
        change()
        token = watcher.tools_token()
        assert token not in seen
        seen.add(token)


def test_a_server_status_moves_the_token_but_not_the_tools_token(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    watcher = reader.watch()
    token, tools = watcher.token(), watcher.tools_token()

    writer.set_server_status("fs", "connecting")
    assert watcher.token() != token
    assert watcher.tools_token() == tools

    token = watcher.token()
    writer.set_server_status("fs", "connected", tool_count=3)
    assert watcher.token() != token


def test_a_memory_write_moves_no_token_but_counts_as_a_commit_elsewhere(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    watcher = reader.watch()
    before = (watcher.token(), watcher.tools_token())
    count = reader.change_count()

    writer.memory_set("user", "note", {"not": "a tool"})

    assert (watcher.token(), watcher.tools_token()) == before
    assert watcher.changed_elsewhere()
    assert reader.change_count() != count


def test_the_registrys_own_writes_move_the_tokens_but_are_not_elsewhere(
    reader: ToolRegistry,
) -> None:
    watcher = reader.watch()
    before = (watcher.token(), watcher.tools_token())
    count = reader.change_count()

    reader.add_version("local.mine", kind="script", manifest={"description": "own"})
    reader.set_server_status("fs", "failed", detail="gone")

    after = (watcher.token(), watcher.tools_token())
    assert after[0] != before[0]
    assert after[1] != before[1]
    assert not watcher.changed_elsewhere()
    assert reader.change_count() == count


def test_change_count_moves_once_per_commit_seen_elsewhere(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    first = reader.change_count()
    assert reader.change_count() == first

    writer.add_version("local.a", kind="script", manifest={"description": "1"})

    second = reader.change_count()
    assert second != first
    assert reader.change_count() == second


def test_each_watcher_sees_a_change_once_independently(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    first, second = reader.watch(), reader.watch()
    writer.save_catalog("fs", [ToolSpec("fs", "read_file", "Read a file")])

    assert first.changed_elsewhere()
    assert not first.changed_elsewhere()
    assert second.changed_elsewhere()


def test_a_watcher_counts_from_when_it_was_made(writer: ToolRegistry, reader: ToolRegistry) -> None:
    writer.save_catalog("fs", [ToolSpec("fs", "read_file", "Read a file")])
    watcher = reader.watch()
    assert not watcher.changed_elsewhere()


def test_tokens_are_the_same_for_every_watcher_of_the_same_content(
    writer: ToolRegistry, reader: ToolRegistry
) -> None:
    writer.save_catalog("fs", [ToolSpec("fs", "read_file", "Read a file")])
    writer.set_server_status("fs", "connected", tool_count=1)

    assert tokens(reader) == tokens(writer)
    assert all(len(token) == 16 and int(token, 16) >= 0 for token in tokens(reader))


def test_a_watcher_of_a_closed_registry_says_to_open_a_new_one(home: Path) -> None:
    registry = ToolRegistry(home)
    watcher = registry.watch()
    registry.close()

    with pytest.raises(RegistryError, match="open a new ToolRegistry"):
        watcher.token()
    with pytest.raises(RegistryError, match="open a new ToolRegistry"):
        watcher.changed_elsewhere()
