"""The bridge's discovery tools take the Python names they give out; memory's action is an enum."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tk_support import LoopThread, python_server, write_config
from toolkernel.bridge import KernelSession, build_server
from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._lifecycle import add_lifecycle_tools

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("bridge-names")
    config = write_config(base / "mcp.json", {"my-names": python_server("names_server.py")})
    env = {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
    }
    loop = LoopThread()
    session = KernelSession(cwd=base, env=env)
    loop.run(session.start())
    server = build_server(session)
    loop.run(_call(server, "execute_code", {"code": "await wait_for_servers(30)"}))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


async def _call(server: Any, tool: str, args: dict[str, Any]) -> Any:
    async with Client(server) as client:
        return await client.call_tool(tool, args)


def text(bridge: tuple[LoopThread, Any], tool: str, args: dict[str, Any]) -> str:
    loop, server = bridge
    result = loop.run(_call(server, tool, args))
    assert not result.is_error, result
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_get_tool_details_takes_the_names_list_tool_names_gives(bridge: Any) -> None:
    names = text(bridge, "list_tool_names", {"server": "my_names"})
    assert "my_names.get_weather_2" in names
    assert names == text(bridge, "list_tool_names", {"server": "my-names"})
    for name in ("my_names.class_", "my_names._2fa", "my_names.get_weather_2"):
        details = text(bridge, "get_tool_details", {"name": name})
        assert details.startswith(f"await tools.{name}("), details


def test_the_memory_tools_action_is_an_enum(tmp_path: Path) -> None:
    session = KernelSession(cwd=tmp_path)  # never started: only the tool list is read
    server = BridgeServer(session, expose=False, name="toolkernel")
    add_lifecycle_tools(server, session)
    loop = LoopThread()
    try:
        tools = loop.run(server.list_tools())
    finally:
        loop.close()
    memory = next(tool for tool in tools if tool.name == "memory")
    action = memory.input_schema["properties"]["action"]
    assert action["enum"] == ["get", "set", "delete", "list"]
