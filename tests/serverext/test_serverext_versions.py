"""`GET tools/{name}/versions`, `GET tools/{name}/diff`, `POST tools/{name}/rollback`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from panel_support import error_of, get_json

from toolkernel.registry import ToolRegistry


async def test_versions_list_the_history_oldest_first(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    answer = await get_json(jp_fetch, "tools", "local.word_count", "versions")
    history = registry.tool_versions("local.word_count")
    assert answer["name"] == "local.word_count"
    assert answer["current"] == 2
    assert answer["versions"] == [
        {
            "version": v.version,
            "created_at": v.created_at,
            "note": v.note,
            "author": "tester",
            "content_hash": v.content_hash,
            "rollback_of": None,
            "deleted": False,
        }
        for v in history
    ]
    assert answer["deleted"] is False


async def test_an_mcp_tool_has_no_versions(jp_fetch: Any) -> None:
    answer = await get_json(jp_fetch, "tools", "filesystem.read_file", "versions")
    assert answer == {
        "name": "filesystem.read_file",
        "current": None,
        "versions": [],
        "deleted": False,
    }


async def test_diff_defaults_to_the_current_version(jp_fetch: Any, registry: ToolRegistry) -> None:
    answer = await get_json(jp_fetch, "tools", "local.word_count", "diff", a=1)
    assert answer["diff"] == registry.diff_tool("local.word_count", 1)
    assert (answer["name"], answer["a"], answer["b"]) == ("local.word_count", 1, 2)
    assert '+(module (memory (export "memory") 1))' in answer["diff"]


async def test_diff_between_two_given_versions(jp_fetch: Any, registry: ToolRegistry) -> None:
    answer = await get_json(jp_fetch, "tools", "local.word_count", "diff", a=2, b=1)
    assert answer["diff"] == registry.diff_tool("local.word_count", 2, 1)
    assert '-  "description": "Count the words in a text, fast."' in answer["diff"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, "query parameter 'a' is required"),
        ({"a": "one"}, "'a' must be an integer >= 1, not 'one'"),
        ({"a": "0"}, "'a' must be >= 1, not 0"),
        ({"a": "1", "b": "x"}, "'b' must be an integer"),
    ],
)
async def test_diff_with_bad_versions_is_400(
    jp_fetch: Any, params: dict[str, str], words: str
) -> None:
    status, message = await error_of(jp_fetch, "tools", "local.word_count", "diff", params=params)
    assert status == 400
    assert words in message


@pytest.mark.parametrize("version", ["7", str(10**24)])
async def test_diff_of_a_missing_version_is_404_with_the_range(jp_fetch: Any, version: str) -> None:
    status, message = await error_of(
        jp_fetch, "tools", "local.word_count", "diff", params={"a": version}
    )
    assert status == 404
    assert f"has no version {version}; available: 1-2" in message


async def test_rollback_appends_a_copy_of_the_old_version(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    before = registry.tool_versions("local.word_count")
    response = await jp_fetch(
        "toolkernel",
        "api",
        "tools",
        "local.word_count",
        "rollback",
        method="POST",
        body=json.dumps({"version": 1, "note": "the fast one is wrong"}),
    )
    answer = json.loads(response.body)
    after = registry.tool_versions("local.word_count")
    assert len(after) == len(before) + 1
    assert after[-1].manifest == before[0].manifest
    assert after[-1].content_hash == before[0].content_hash
    assert (after[-1].version, after[-1].rollback_of, after[-1].note) == (
        3,
        1,
        "the fast one is wrong",
    )
    assert answer["name"] == "local.word_count"
    assert answer["version"]["version"] == 3
    assert answer["version"]["rollback_of"] == 1
    assert answer["version"]["content_hash"] == before[0].content_hash
    listed = await get_json(jp_fetch, "tools", "local.word_count", "versions")
    assert [v["version"] for v in listed["versions"]] == [1, 2, 3]
    assert listed["current"] == 3


async def test_rollback_without_a_note_says_which_version_it_restores(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    await jp_fetch(
        "toolkernel", "api", "tools", "local.word_count", "rollback",
        method="POST", body=json.dumps({"version": 1}),
    )  # fmt: skip
    assert registry.tool_version("local.word_count").note == "rollback to version 1"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("not json", "the body is not JSON"),
        ("[1]", "expected a JSON object"),
        ("{}", "'version' must be an integer >= 1, not None"),
        ('{"version": "1"}', "'version' must be an integer >= 1, not '1'"),
        ('{"version": true}', "'version' must be an integer >= 1"),
        ('{"version": 1, "note": 5}', "'note' must be a string"),
    ],
)
async def test_rollback_with_a_bad_body_is_400_and_writes_nothing(
    jp_fetch: Any, registry: ToolRegistry, body: str, words: str
) -> None:
    status, message = await error_of(
        jp_fetch, "tools", "local.word_count", "rollback", method="POST", body=body
    )
    assert status == 400
    assert words in message
    assert len(registry.tool_versions("local.word_count")) == 2


@pytest.mark.parametrize("version", [9, 10**24])
async def test_rollback_to_a_missing_version_is_404(
    jp_fetch: Any, registry: ToolRegistry, version: int
) -> None:
    body = f'{{"version": {version}}}'
    status, message = await error_of(
        jp_fetch, "tools", "local.word_count", "rollback", method="POST", body=body
    )
    assert status == 404
    assert "available: 1-2" in message
    assert len(registry.tool_versions("local.word_count")) == 2


async def test_rollback_of_an_mcp_tool_is_404_saying_why(jp_fetch: Any) -> None:
    status, message = await error_of(
        jp_fetch, "tools", "filesystem.read_file", "rollback", method="POST", body='{"version": 1}'
    )
    assert status == 404
    assert "is a tool of MCP server 'filesystem'" in message
