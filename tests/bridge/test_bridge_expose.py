"""`--expose-tools`: the kernel's tools as MCP tools, called through the kernel's host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client, types

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession, build_server
from toolkernel.bridge._expose import ORIGINAL_NAME_KEY, exposed_names

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
    add = tools["echo__add"]
    assert add.input_schema["required"] == ["a", "b"]
    assert add.output_schema is not None
    assert "echo__get-weather" in tools


def test_exposed_names_are_model_api_safe_and_lead_back_to_the_original(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> tuple[list[types.Tool], types.CallToolResult]:
        async with Client(server) as client:
            listed = (await client.list_tools()).tools
            by_original = await client.call_tool("echo.add", {"a": 1, "b": 1})
            return listed, by_original

    listed, by_original = loop.run(scenario())
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool.name) for tool in listed)
    weather = next(tool for tool in listed if tool.name == "echo__get-weather")
    assert weather.meta == {ORIGINAL_NAME_KEY: "echo.get-weather"}
    assert weather.title == "echo.get-weather"
    assert by_original.structured_content == {"result": 2}


def test_long_and_colliding_names_get_a_short_hash_and_stay_unique() -> None:
    long = "server." + "x" * 80
    names = exposed_names(["a.b.c", "a.b_c", "a-b.c", long, "ok.tool"])
    assert names["ok.tool"] == "ok__tool"
    assert names["a.b.c"] == "a__b_c"
    assert re.fullmatch(r"a__b_c_[0-9a-f]{8}", names["a.b_c"])
    assert len(names[long]) == 64
    assert len(set(names.values())) == 5
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name) for name in names.values())
    assert exposed_names([long]) == {long: names[long]}  # the same every time


def test_an_exposed_tool_is_called_through_the_kernel(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> tuple[types.CallToolResult, types.CallToolResult]:
        async with Client(server) as client:
            ok = await client.call_tool("echo__add", {"a": 2, "b": 3})
            bad = await client.call_tool("echo__fail", {"message": "disk on fire"})
            return ok, bad

    ok, bad = loop.run(scenario())
    assert ok.structured_content == {"result": 5}
    assert bad.is_error
    assert bad.content[0].text == "disk on fire"


def test_bad_arguments_to_an_exposed_tool_are_an_error_result(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("echo__add", {"a": "one", "b": 2})

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

    assert "echo__brand_new" in loop.run(scenario())


def test_list_changed_is_declared(exposed: Any) -> None:
    loop, server = exposed

    async def scenario() -> types.ServerCapabilities:
        async with Client(server, mode="legacy") as client:
            return client.server_capabilities

    capabilities = loop.run(scenario())
    assert capabilities.tools is not None
    assert capabilities.tools.list_changed is True


def test_a_tool_whose_result_is_not_an_object_is_exposed_wrapped(exposed: Any) -> None:
    loop, server = exposed
    code = (
        "create_tool('primes', kind='pipeline', description='Small primes.', steps=["
        "{'id': 'two', 'tool': 'echo.add', 'args': {'a': 1, 'b': 1}}], "
        "output=['${steps.two.result.result}', 3, 5], "
        "output_schema={'type': 'array', 'items': {'type': 'integer'}})"
    )

    async def scenario() -> tuple[list[types.Tool], types.CallToolResult]:
        async with Client(server) as client:
            made = await client.call_tool("execute_code", {"code": code})
            assert not made.is_error, made.content
            listed = (await client.list_tools()).tools  # valid as a whole
            return listed, await client.call_tool("local__primes", {})

    listed, result = loop.run(scenario())
    primes = next(tool for tool in listed if tool.name == "local__primes")
    assert primes.output_schema == {
        "type": "object",
        "properties": {"result": {"type": "array", "items": {"type": "integer"}}},
        "required": ["result"],
    }
    assert not result.is_error, result.content
    assert result.structured_content == {"result": [2, 3, 5]}
