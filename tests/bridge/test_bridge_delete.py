"""delete_tool and restore_tool as lifecycle tools: run in the kernel, followed at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, types

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession, build_server

pytestmark = pytest.mark.timeout(180)

SHOUT = {
    "name": "local.shout",
    "kind": "pipeline",
    "description": "Shout a text back through the echo server.",
    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
    "steps": [{"id": "say", "tool": "echo.echo", "args": {"text": "${input.text}"}}],
}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("delete")
    loop = LoopThread()
    session = KernelSession(cwd=base, env=echo_env(base))
    loop.run(session.start())
    server = build_server(session, expose_tools=True, lifecycle_tools=True)
    loop.run(session.request("session/ready", {"timeout_s": 30}))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def test_delete_and_restore_through_the_bridge(bridge: Any) -> None:
    loop, server = bridge

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with Client(server) as client:
            made = await client.call_tool("create_tool", SHOUT)
            assert not made.is_error, text_of(made)
            seen["before"] = [tool.name for tool in (await client.list_tools()).tools]
            seen["deleted"] = await client.call_tool("delete_tool", {"name": "local.shout"})
            seen["after"] = [tool.name for tool in (await client.list_tools()).tools]
            seen["found"] = await client.call_tool("search_tools", {"query": "shout a text"})
            seen["versions"] = await client.call_tool("tool_versions", {"name": "local.shout"})
            seen["restored"] = await client.call_tool("restore_tool", {"name": "local.shout"})
            seen["called"] = await client.call_tool("local__shout", {"text": "hi"})
        return seen

    seen = loop.run(scenario())
    assert "local__shout" in seen["before"]
    assert text_of(seen["deleted"]) == (
        "local.shout is deleted (version 2); restore_tool brings it back"
    )
    assert "local__shout" not in seen["after"]
    assert "local.shout" not in text_of(seen["found"])
    versions = seen["versions"].structured_content["result"]
    assert [(v["version"], v["deleted"]) for v in versions] == [(1, False), (2, True)]
    assert text_of(seen["restored"]) == "local.shout is restored as version 3"
    assert not seen["called"].is_error, text_of(seen["called"])
    assert "hi" in text_of(seen["called"])


@pytest.mark.parametrize(
    ("tool", "name", "said"),
    [
        ("delete_tool", "echo.echo", "it is a tool of the MCP server 'echo'"),
        ("delete_tool", "local.never_made", "no registry tool 'local.never_made'"),
        ("restore_tool", "local.never_made", "no registry tool 'local.never_made'"),
    ],
)
def test_a_refused_delete_is_an_error_result_that_says_why(
    bridge: Any, tool: str, name: str, said: str
) -> None:
    loop, server = bridge

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(tool, {"name": name})

    result = loop.run(scenario())
    assert result.is_error
    assert said in text_of(result)
