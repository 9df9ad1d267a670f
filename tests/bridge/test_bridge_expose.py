"""`--expose-tools`: the kernel's tools as MCP tools, called through the kernel's host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client, types

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession, build_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("expose")
    loop = LoopThread()
    session = KernelSession(cwd=base, env=echo_env(base))
    loop.run(session.start())
    server = build_server(session, expose_tools=True)
    loop.run(session.request("session/ready", {"timeout_s": 30}))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


def test_every_kernel_tool_is_listed_with_its_schemas_and_annotations(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> list[types.Tool]:
        async with Client(server) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in loop.run(scenario())}
    assert "execute_code" in tools
    add = tools["echo.add"]
    assert add.input_schema["required"] == ["a", "b"]
    assert add.output_schema is not None
    assert "echo.get-weather" in tools


def test_an_exposed_tool_is_called_through_the_kernel(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> tuple[types.CallToolResult, types.CallToolResult]:
        async with Client(server) as client:
            ok = await client.call_tool("echo.add", {"a": 2, "b": 3})
            bad = await client.call_tool("echo.fail", {"message": "disk on fire"})
            return ok, bad

    ok, bad = loop.run(scenario())
    assert ok.structured_content == {"result": 5}
    assert bad.is_error
    assert bad.content[0].text == "disk on fire"


def test_bad_arguments_to_an_exposed_tool_are_an_error_result(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("echo.add", {"a": "one", "b": 2})

    result = loop.run(scenario())
    assert result.is_error
    assert "nothing was sent" in result.content[0].text


def test_a_catalog_change_sends_list_changed_and_the_new_tool_appears(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> list[str]:
        changed = anyio.Event()

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                changed.set()

        async with Client(server, mode="legacy", message_handler=on_message) as client:
            code = (
                "await tools.echo.add_tool(name='brand_new')\n"
                "await get_ipython().kernel.toolbox.wait_for_tool('echo.brand_new', 20)"
            )
            await client.call_tool("execute_code", {"code": code})
            with anyio.fail_after(20):
                await changed.wait()
            return [tool.name for tool in (await client.list_tools()).tools]

    assert "echo.brand_new" in loop.run(scenario())
