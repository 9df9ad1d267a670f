"""The memory store: JSON values per namespace, with ttl, limits and shared access."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from toolkernel import MemoryLimitError, RegistryError
from toolkernel.registry import ToolRegistry, _memory

START = 1_700_000_000.0


class Clock:
    """A clock that moves only when told, standing in for `time.time`."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_memory, "_now", fake)
    return fake


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[ToolRegistry]:
    with ToolRegistry(tmp_path / "home") as reg:
        yield reg


def row_count(registry: ToolRegistry) -> int:
    conn = sqlite3.connect(registry.path)
    try:
        return int(conn.execute("SELECT count(*) FROM memory").fetchone()[0])
    finally:
        conn.close()


def test_set_get_delete_and_list_round_trip(registry: ToolRegistry) -> None:
    registry.memory_set("user", "b", 2)
    registry.memory_set("user", "a", 1)
    assert registry.memory_get("user", "a") == 1
    assert registry.memory_list("user") == ["a", "b"]
    assert registry.memory_delete("user", "a") is True
    assert registry.memory_delete("user", "a") is False
    assert registry.memory_get("user", "a", "gone") == "gone"
    assert registry.memory_list("user") == ["b"]


def test_set_replaces_the_value_and_its_ttl(registry: ToolRegistry, clock: Clock) -> None:
    registry.memory_set("user", "k", "old", ttl=10)
    registry.memory_set("user", "k", "new")
    clock.now += 3600
    assert registry.memory_get("user", "k") == "new"
    assert registry.memory_list("user") == ["k"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -3.25,
        "",
        "héllo wörld ✓ 日本語 🚀",
        [1, [2, [3, {"deep": ["x", None, False]}]]],
        {"naïve": {"ключ": [1.5, "🚀"], "empty": {}}, "list": []},
    ],
)
def test_json_values_round_trip_unchanged(registry: ToolRegistry, value: object) -> None:
    registry.memory_set("user", "v", value)
    assert registry.memory_get("user", "v", "missing") == value


def test_values_come_back_as_json_gives_them(registry: ToolRegistry) -> None:
    registry.memory_set("user", "v", {"pair": (1, 2), 3: "three"})
    assert registry.memory_get("user", "v") == {"pair": [1, 2], "3": "three"}


def test_a_stored_none_is_found_and_not_the_default(registry: ToolRegistry) -> None:
    missing = object()
    registry.memory_set("user", "nothing", None)
    assert registry.memory_get("user", "nothing", missing) is None
    assert registry.memory_get("user", "other", missing) is missing


def test_an_expired_entry_is_never_returned(registry: ToolRegistry, clock: Clock) -> None:
    registry.memory_set("user", "short", "s", ttl=10)
    registry.memory_set("user", "long", "l", ttl=1000)
    clock.now += 9.5
    assert registry.memory_get("user", "short") == "s"
    clock.now += 0.5
    assert registry.memory_get("user", "short", "expired") == "expired"
    assert registry.memory_list("user") == ["long"]
    assert registry.memory_delete("user", "short") is False
    assert registry.memory_get("user", "long") == "l"


def test_writes_purge_their_namespaces_expired_entries(
    registry: ToolRegistry, clock: Clock
) -> None:
    for n in range(5):
        registry.memory_set("user", f"k{n}", n, ttl=1)
    registry.memory_set("tool:local.t", "k", 0, ttl=1)
    clock.now += 2
    assert row_count(registry) == 6
    registry.memory_set("user", "fresh", 1)
    assert row_count(registry) == 2
    assert registry.memory_purge() == 1
    assert row_count(registry) == 1
    assert registry.memory_purge() == 0


def test_a_prefix_is_matched_literally(registry: ToolRegistry) -> None:
    for key in ("50%_off", "50x_off", "500", "a_b", "axb", "a*", "aa", "A_b"):
        registry.memory_set("user", key, key)
    assert registry.memory_list("user", "50%") == ["50%_off"]
    assert registry.memory_list("user", "a_") == ["a_b"]
    assert registry.memory_list("user", "a*") == ["a*"]
    assert registry.memory_list("user", "50%_off") == ["50%_off"]
    assert registry.memory_list("user", "zzz") == []
    assert registry.memory_list("user", "x" * 300) == []


def test_a_non_ascii_prefix_counts_characters(registry: ToolRegistry) -> None:
    registry.memory_set("user", "日本語/1", 1)
    registry.memory_set("user", "日本/2", 2)
    assert registry.memory_list("user", "日本語") == ["日本語/1"]
    assert registry.memory_list("user", "日本") == ["日本/2", "日本語/1"]


def test_namespaces_are_isolated(registry: ToolRegistry) -> None:
    registry.memory_set("user", "k", "mine")
    registry.memory_set("tool:local.t", "k", "the tool's")
    assert registry.memory_get("user", "k") == "mine"
    assert registry.memory_get("tool:local.t", "k") == "the tool's"
    assert registry.memory_delete("tool:local.t", "k") is True
    assert registry.memory_list("tool:local.t") == []
    assert registry.memory_list("user") == ["k"]


@pytest.mark.parametrize(
    ("key", "value", "ttl", "message"),
    [
        ("big", "x" * (1024 * 1024), None, r"value for 'big' is 1\.00 MiB \(1,048,578 bytes\)"),
        ("big", ["é" * 600_000], None, r"is 1\.14 MiB .* at most 1 MiB: store large data in a"),
        ("k", {1, 2}, None, r"value for 'k' cannot be stored: .*set.*memory holds JSON"),
        ("k", float("nan"), None, r"cannot be stored: Out of range float"),
        ("k", "\ud800", None, r"cannot be stored: .*surrogate"),
        ("", 1, None, r"invalid memory key '': keys are non-empty str of at most 256"),
        ("k" * 257, 1, None, r"invalid memory key 'kkkk.*\.\.\.': keys are"),
        ("a\0b", 1, None, r"invalid memory key 'a\\x00b'"),
        (7, 1, None, r"invalid memory key of type int"),
        ("k", 1, 0, r"ttl for 'k' must be a positive number of seconds, .*; got 0"),
        ("k", 1, -5, r"got -5"),
        ("k", 1, float("inf"), r"got inf"),
        ("k", 1, True, r"got True"),
        ("k", 1, "60", r"got '60'"),
    ],
)
def test_each_limit_is_refused_with_a_clear_message_and_nothing_is_written(
    registry: ToolRegistry, key: object, value: object, ttl: object, message: str
) -> None:
    with pytest.raises(MemoryLimitError, match=message) as info:
        registry.memory_set("user", key, value, ttl=ttl)  # type: ignore[arg-type]
    assert isinstance(info.value, RegistryError)
    assert isinstance(info.value, ValueError)
    assert info.value.namespace == "user"
    assert row_count(registry) == 0


@pytest.mark.parametrize("namespace", ["", "n" * 201, "tool:\0", None])
def test_a_bad_namespace_is_refused_everywhere(registry: ToolRegistry, namespace: object) -> None:
    bad: str = namespace  # type: ignore[assignment]
    with pytest.raises(MemoryLimitError, match=r"invalid memory namespace .*use 'user', or"):
        registry.memory_set(bad, "k", 1)
    with pytest.raises(MemoryLimitError, match="invalid memory namespace"):
        registry.memory_get(bad, "k")
    with pytest.raises(MemoryLimitError, match="invalid memory namespace"):
        registry.memory_list(bad)
    with pytest.raises(MemoryLimitError, match="invalid memory namespace"):
        registry.memory_delete(bad, "k")
    assert row_count(registry) == 0


def test_the_longest_key_and_value_and_a_tiny_ttl_are_accepted(
    registry: ToolRegistry, clock: Clock
) -> None:
    value = "x" * (_memory.MAX_VALUE_BYTES - 2)  # the quotes make it exactly 1 MiB
    registry.memory_set("user", "k" * _memory.MAX_KEY_CHARS, value, ttl=0.001)
    assert registry.memory_get("user", "k" * _memory.MAX_KEY_CHARS) == value


def test_a_full_namespace_refuses_new_keys_but_updates_and_expiry_free_room(
    registry: ToolRegistry, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_memory, "MAX_KEYS", 3)
    registry.memory_set("user", "a", 1)
    registry.memory_set("user", "b", 1)
    registry.memory_set("user", "c", 1, ttl=5)
    with pytest.raises(MemoryLimitError, match=r"'user' already holds 3 keys.*'d' was not stored"):
        registry.memory_set("user", "d", 1)
    assert registry.memory_list("user") == ["a", "b", "c"]
    registry.memory_set("user", "a", 2)
    registry.memory_set("tool:local.t", "d", 1)
    clock.now += 5
    registry.memory_set("user", "d", 1)
    assert registry.memory_list("user") == ["a", "b", "d"]


def test_the_default_key_limit_is_ten_thousand(registry: ToolRegistry) -> None:
    conn = sqlite3.connect(registry.path)
    with conn:
        conn.executemany(
            "INSERT INTO memory VALUES ('user', ?, '1', NULL, 0)",
            [(f"k{n:05}",) for n in range(10_000)],
        )
    conn.close()
    with pytest.raises(MemoryLimitError, match="already holds 10,000 keys"):
        registry.memory_set("user", "one_more", 1)
    registry.memory_set("user", "k00000", 2)
    assert registry.memory_get("user", "k00000") == 2
    assert row_count(registry) == 10_000


def test_two_registries_on_one_home_see_each_others_memory(tmp_path: Path) -> None:
    with ToolRegistry(tmp_path) as first, ToolRegistry(tmp_path) as second:
        first.memory_set("user", "k", {"from": "first"})
        assert second.memory_get("user", "k") == {"from": "first"}
        assert second.memory_delete("user", "k") is True
        assert first.memory_get("user", "k") is None


def test_concurrent_writers_from_threads_lose_nothing(tmp_path: Path) -> None:
    registries = [ToolRegistry(tmp_path) for _ in range(4)]

    def write(worker: int) -> None:
        registry = registries[worker % 4]
        for n in range(25):
            registry.memory_set("user", f"w{worker}/{n}", [worker, n])
            registry.memory_set("user", "shared", worker)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(write, range(8)))
        keys = registries[0].memory_list("user", "w")
        assert len(keys) == 8 * 25
        assert all(registries[1].memory_get("user", f"w3/{n}") == [3, n] for n in range(25))
        assert registries[2].memory_get("user", "shared") in range(8)
    finally:
        for registry in registries:
            registry.close()


def test_a_closed_registry_raises_registry_error(tmp_path: Path) -> None:
    registry = ToolRegistry(tmp_path)
    registry.close()
    with pytest.raises(RegistryError, match="open a new ToolRegistry"):
        registry.memory_get("user", "k")


def test_a_tools_namespace_is_checked_and_prefixed() -> None:
    assert _memory.tool_namespace("local.primes") == "tool:local.primes"
    with pytest.raises(RegistryError, match="invalid tool name 'primes'"):
        _memory.tool_namespace("primes")
