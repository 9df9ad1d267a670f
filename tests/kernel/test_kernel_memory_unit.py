"""The `memory` object a kernel preloads, in process on a tmp_path registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import MemoryLimitError, RegistryError
from toolkernel.registry import ToolRegistry, _memory
from toolkernel.session._memory import Memory


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[ToolRegistry]:
    with ToolRegistry(tmp_path / "home") as reg:
        yield reg


@pytest.fixture
def memory(registry: ToolRegistry) -> Memory:
    return Memory(registry)


def test_memory_uses_the_user_namespace_by_default(memory: Memory, registry: ToolRegistry) -> None:
    memory.set("city", {"name": "Lyon", "zip": "69001"})
    assert memory.namespace == "user"
    assert registry.memory_get("user", "city") == {"name": "Lyon", "zip": "69001"}
    assert memory.get("city") == {"name": "Lyon", "zip": "69001"}


def test_get_delete_and_list_work_on_its_namespace(memory: Memory) -> None:
    memory.set("run/2", 2)
    memory.set("run/1", 1)
    memory.set("other", 0)
    assert memory.list() == ["other", "run/1", "run/2"]
    assert memory.list("run/") == ["run/1", "run/2"]
    assert memory.delete("run/1") is True
    assert memory.delete("run/1") is False
    assert memory.get("run/1") is None
    assert memory.get("run/1", "default") == "default"


def test_a_ttl_expires_the_value(memory: Memory, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.0]
    monkeypatch.setattr(_memory, "_now", lambda: now[0])
    memory.set("token", "abc", 60)
    memory.set("keep", "k", ttl=None)
    now[0] += 60
    assert memory.get("token", "expired") == "expired"
    assert memory.list() == ["keep"]


def test_repr_shows_the_namespace_and_key_count(memory: Memory) -> None:
    assert repr(memory) == "<Memory 'user': 0 keys>"
    memory.set("a", 1)
    memory.set("b", 2)
    assert repr(memory) == "<Memory 'user': 2 keys>"


def test_repr_of_a_closed_registry_says_why_instead_of_raising(
    memory: Memory, registry: ToolRegistry
) -> None:
    registry.close()
    assert repr(memory).startswith("<Memory 'user': unavailable: the registry at ")


def test_for_tool_shows_the_tools_own_namespace(memory: Memory, registry: ToolRegistry) -> None:
    registry.memory_set("tool:local.primes", "cache", [2, 3, 5])
    tool_memory = memory.for_tool("local.primes")
    assert tool_memory.namespace == "tool:local.primes"
    assert tool_memory.list() == ["cache"]
    assert tool_memory.get("cache") == [2, 3, 5]
    assert memory.list() == []
    assert repr(tool_memory) == "<Memory 'tool:local.primes': 1 key>"


def test_for_tool_refuses_a_name_that_is_not_namespace_dot_tool(memory: Memory) -> None:
    with pytest.raises(RegistryError, match="invalid tool name 'primes'"):
        memory.for_tool("primes")


def test_a_broken_limit_raises_memory_limit_error_and_stores_nothing(memory: Memory) -> None:
    with pytest.raises(MemoryLimitError, match="memory values are at most 1 MiB") as info:
        memory.set("big", "x" * (2 * 1024 * 1024))
    assert (info.value.namespace, info.value.key) == ("user", "big")
    assert memory.list() == []
