"""The call history: appended, trimmed to the newest rows, read newest first, shared."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from toolkernel import RegistryError
from toolkernel.registry import CALL_OUTCOMES, CallRecord, ToolRegistry
from toolkernel.registry._db import MIGRATIONS
from toolkernel.registry._history import MAX_ERROR_CHARS


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    with ToolRegistry(home) as reg:
        yield reg


def call(n: int, tool: str = "echo.add", **extra: object) -> CallRecord:
    fields: dict[str, object] = {
        "tool": tool,
        "arguments_bytes": n,
        "duration_s": 0.001 * n,
        "outcome": "ok",
        "started_at": 1_000.0 + n,
        **extra,
    }
    return CallRecord(**fields)  # type: ignore[arg-type]


def old_registry(tmp_path: Path, version: int, *rows: str) -> Path:
    """A home whose registry.db has the schema of `version` (its first migrations only),
    holding what the `rows` SQL statements insert."""
    home = tmp_path / "old"
    home.mkdir()
    with closing(sqlite3.connect(home / "registry.db", isolation_level=None)) as conn:
        for step in MIGRATIONS[:version]:
            for statement in step:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
        for row in rows:
            conn.execute(row)
        conn.execute(f"PRAGMA user_version = {version}")
    return home


def test_recorded_calls_come_back_newest_first_with_every_field(registry: ToolRegistry) -> None:
    first = call(1, execution_count=4, pid=99)
    second = call(2, tool="echo.fail", outcome="error", error="no luck", execution_count=5)
    registry.record_calls([first, second])
    assert registry.call_history() == [second, first]
    assert second.to_json()["error"] == "no luck"


def test_only_the_newest_rows_are_kept(registry: ToolRegistry) -> None:
    for n in range(10):
        registry.record_calls([call(n)], keep=4)
    assert [row.arguments_bytes for row in registry.call_history(100)] == [9, 8, 7, 6]


def test_a_batch_larger_than_keep_keeps_its_newest(registry: ToolRegistry) -> None:
    registry.record_calls([call(n) for n in range(6)], keep=2)
    assert [row.arguments_bytes for row in registry.call_history(100)] == [5, 4]


def test_the_history_filters_by_tool_and_limits(registry: ToolRegistry) -> None:
    registry.record_calls([call(1), call(2, tool="echo.echo"), call(3), call(4)])
    assert [row.arguments_bytes for row in registry.call_history(2, tool="echo.add")] == [4, 3]
    assert [row.tool for row in registry.call_history(5, tool="echo.echo")] == ["echo.echo"]


def test_a_long_error_is_trimmed(registry: ToolRegistry) -> None:
    registry.record_calls([call(1, outcome="failed", error="x" * (MAX_ERROR_CHARS * 2))])
    assert registry.call_history(1)[0].error == "x" * MAX_ERROR_CHARS


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, "5", 2.5])
def test_a_limit_out_of_range_is_refused(registry: ToolRegistry, limit: object) -> None:
    with pytest.raises(RegistryError, match=r"limit must be an int from 1 to 10000"):
        registry.call_history(limit)  # type: ignore[arg-type]


def test_an_unknown_outcome_is_refused_by_the_schema(registry: ToolRegistry) -> None:
    with pytest.raises(RegistryError):
        registry.record_calls([call(1, outcome="maybe")])
    assert registry.call_history() == []
    assert "maybe" not in CALL_OUTCOMES


def test_another_connection_sees_the_calls(home: Path, registry: ToolRegistry) -> None:
    registry.record_calls([call(7)])
    with ToolRegistry(home) as other:
        assert other.call_history(1) == [call(7)]


def test_a_registry_of_schema_3_gets_the_history_table_when_opened(tmp_path: Path) -> None:
    home = old_registry(tmp_path, 3)
    with ToolRegistry(home) as registry:
        registry.record_calls([call(1)])
        assert registry.call_history() == [call(1)]
    with closing(sqlite3.connect(home / "registry.db")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_calls_approval_is_kept(registry: ToolRegistry) -> None:
    asked = call(1, approval="allowed:person")
    denied = call(2, outcome="refused", error="denied", approval="denied:timeout")
    registry.record_calls([asked, denied, call(3)])
    assert [c.approval for c in registry.call_history()] == [
        None,
        "denied:timeout",
        "allowed:person",
    ]


def test_a_registry_of_schema_4_keeps_its_history_and_gains_the_approval_column(
    tmp_path: Path,
) -> None:
    home = old_registry(
        tmp_path,
        4,
        "INSERT INTO call_history (tool, arguments_bytes, duration_s, outcome, started_at) "
        "VALUES ('echo.add', 13, 0.5, 'ok', 1000.0)",
    )
    with ToolRegistry(home) as registry:
        registry.record_calls([call(2, approval="remembered:client")])
        assert [(c.tool, c.approval) for c in registry.call_history()] == [
            ("echo.add", "remembered:client"),
            ("echo.add", None),
        ]


def test_a_registry_of_schema_5_keeps_its_history_and_gains_the_session_column(
    tmp_path: Path,
) -> None:
    home = old_registry(
        tmp_path,
        5,
        "INSERT INTO call_history (tool, arguments_bytes, duration_s, outcome, started_at, "
        "approval) VALUES ('echo.add', 13, 0.5, 'ok', 1000.0, 'allowed:person')",
    )
    with ToolRegistry(home) as registry:
        registry.record_calls([call(2, session="host /run/h.sock")])
        assert [(c.approval, c.session) for c in registry.call_history()] == [
            (None, "host /run/h.sock"),
            ("allowed:person", None),
        ]
