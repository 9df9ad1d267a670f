"""`GET history`: the tool calls kernels recorded in the shared registry, newest first."""

from __future__ import annotations

from typing import Any

import pytest
from panel_support import error_of, get_json

from toolkernel.registry import CallRecord, ToolRegistry


def call(n: int, tool: str = "echo.add", **extra: Any) -> CallRecord:
    return CallRecord(
        tool=tool,
        arguments_bytes=n,
        duration_s=0.5,
        outcome=extra.pop("outcome", "ok"),
        started_at=1_000.0 + n,
        **extra,
    )


async def test_history_lists_the_calls_another_process_recorded(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    assert (await get_json(jp_fetch, "history")) == {"calls": []}
    registry.record_calls(
        [
            call(1, execution_count=3, pid=42, approval="allowed:person", session="host /h.sock"),
            call(2, "echo.fail", outcome="error", error="no"),
        ]
    )
    answer = await get_json(jp_fetch, "history")
    assert answer["calls"] == [
        {
            "tool": "echo.fail",
            "arguments_bytes": 2,
            "duration_s": 0.5,
            "outcome": "error",
            "started_at": 1002.0,
            "error": "no",
            "execution_count": None,
            "pid": None,
            "approval": None,
            "session": None,
        },
        {
            "tool": "echo.add",
            "arguments_bytes": 1,
            "duration_s": 0.5,
            "outcome": "ok",
            "started_at": 1001.0,
            "error": None,
            "execution_count": 3,
            "pid": 42,
            "approval": "allowed:person",
            "session": "host /h.sock",
        },
    ]


async def test_history_takes_a_limit_and_a_tool(jp_fetch: Any, registry: ToolRegistry) -> None:
    registry.record_calls([call(1), call(2, "echo.echo"), call(3), call(4)])
    answer = await get_json(jp_fetch, "history", limit=2, tool="echo.add")
    assert [row["arguments_bytes"] for row in answer["calls"]] == [4, 3]


@pytest.mark.parametrize(
    ("limit", "words"),
    [("0", "'limit' must be >= 1"), ("lots", "must be an integer"), ("10001", "<= 10000")],
)
async def test_a_bad_history_limit_is_400(jp_fetch: Any, limit: str, words: str) -> None:
    status, message = await error_of(jp_fetch, "history", params={"limit": limit})
    assert status == 400
    assert words in message
