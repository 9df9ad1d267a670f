"""`POST tools/{name}/delete` and `POST tools/{name}/restore`: soft, listed, restorable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from panel_support import error_of, get_json

from toolkernel.registry import ToolRegistry


async def post(jp_fetch: Any, name: str, action: str, body: object = None) -> Any:
    reply = await jp_fetch(
        "toolkernel", "api", "tools", name, action,
        method="POST", body="" if body is None else json.dumps(body),
    )  # fmt: skip
    return json.loads(reply.body)


async def test_delete_hides_the_tool_lists_it_as_deleted_and_restore_brings_it_back(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    first = (await get_json(jp_fetch, "generation"))["generation"]
    answer = await post(jp_fetch, "local.word_count", "delete", {"note": "broken"})
    assert answer["name"] == "local.word_count"
    assert answer["version"]["version"] == 3
    assert answer["version"]["deleted"] is True
    assert answer["version"]["note"] == "broken"
    assert (await get_json(jp_fetch, "generation"))["generation"] != first

    listed = await get_json(jp_fetch, "tools")
    assert "local.word_count" not in [tool["name"] for tool in listed["tools"]]
    assert listed["deleted"] == [{"name": "local.word_count", "kind": "wasm", "version": 3}]
    found = await get_json(jp_fetch, "tools", q="count the words")
    assert "local.word_count" not in [tool["name"] for tool in found["tools"]]
    versions = await get_json(jp_fetch, "tools", "local.word_count", "versions")
    assert versions["deleted"] is True
    assert versions["current"] == 3
    assert [v["deleted"] for v in versions["versions"]] == [False, False, True]

    restored = await post(jp_fetch, "local.word_count", "restore")
    assert (restored["version"]["version"], restored["version"]["rollback_of"]) == (4, 2)
    listed = await get_json(jp_fetch, "tools")
    assert "local.word_count" in [tool["name"] for tool in listed["tools"]]
    assert listed["deleted"] == []
    assert registry.tool_version("local.word_count").version == 4


@pytest.mark.parametrize(
    ("request_", "status", "words"),
    [
        (("filesystem.read_file", "delete"), 409, "it is a tool of the MCP server 'filesystem'"),
        (("local.nope", "delete"), 404, "no registry tool 'local.nope'"),
        (("local.word_count", "restore"), 409, "is not deleted: its version 2 is current"),
        (("..", "delete"), 409, "invalid tool name"),
    ],
)
async def test_a_refused_delete_or_restore_says_why_and_writes_nothing(
    jp_fetch: Any, registry: ToolRegistry, request_: tuple[str, str], status: int, words: str
) -> None:
    name, action = request_
    got, message = await error_of(jp_fetch, "tools", name, action, method="POST", body="{}")
    assert (got, words in message) == (status, True), message
    assert len(registry.tool_versions("local.word_count")) == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("not json", "the body is not JSON"),
        ("[1]", "expected a JSON object"),
        ('{"note": 5}', "'note' must be a string"),
    ],
)
async def test_a_delete_with_a_bad_body_is_400(
    jp_fetch: Any, registry: ToolRegistry, body: str, words: str
) -> None:
    status, message = await error_of(
        jp_fetch, "tools", "local.word_count", "delete", method="POST", body=body
    )
    assert (status, words in message) == (400, True), message
    assert len(registry.tool_versions("local.word_count")) == 2


async def test_a_delete_twice_is_409_and_says_how_to_restore(jp_fetch: Any) -> None:
    await post(jp_fetch, "local.word_count", "delete")
    status, message = await error_of(
        jp_fetch, "tools", "local.word_count", "delete", method="POST", body="{}"
    )
    assert status == 409
    assert "already deleted" in message
    assert "restore_tool('local.word_count')" in message
