"""The bridge's discovery tools say which servers are still connecting, failed, or missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tk_support import LoopThread, python_server, write_config
from toolkernel.bridge import KernelSession, build_server

pytestmark = pytest.mark.timeout(180)


def discover(
    base: Path, env: dict[str, str], calls: list[tuple[str, dict[str, Any]]], **options: Any
) -> list[Any]:
    """Start a bridge on a fresh home, make `calls` in order, return each result."""
    loop = LoopThread()
    session = KernelSession(cwd=base, env=env)
    loop.run(session.start())

    async def run_all() -> list[Any]:
        async with Client(build_server(session, **options)) as client:
            return [await client.call_tool(tool, args) for tool, args in calls]

    try:
        return loop.run(run_all())
    finally:
        loop.run(session.shutdown())
        loop.close()


def test_a_fresh_home_lists_tools_and_notes_connecting_and_failed_servers(
    tmp_path: Path,
) -> None:
    servers = {
        "echo": python_server("echo_server.py"),
        "hangs": python_server("hang_server.py"),
        "crashes": python_server("crash_server.py"),
    }
    config = write_config(tmp_path / "mcp.json", servers)
    env = {**os.environ, "TOOLKERNEL_HOME": str(tmp_path / "home")}
    env["TOOLKERNEL_MCP_CONFIG"] = str(config)
    names, found, by_name = discover(
        tmp_path,
        env,
        [
            ("list_tool_names", {}),
            ("search_tools", {"query": "weather for a city", "limit": 2}),
            ("search_tools", {"query": "weather", "limit": 1}),
        ],
    )
    listed = names.structured_content["result"]
    assert "echo.get_weather" in listed
    notes = [n for n in listed if n.startswith("note: ")]
    assert any("still connecting" in n and "hangs" in n for n in notes), listed
    assert any("'crashes' is unavailable" in n and "CRASH_SERVER_TOKEN" in n for n in notes)
    # search_tools answers text: one line per tool, then the notes.
    lines = found.content[0].text.splitlines()
    assert lines[0].startswith("echo.get_weather(")
    assert any(line.startswith("note: ") and "hangs" in line for line in lines), lines
    one = by_name.content[0].text.splitlines()
    assert one[0].startswith("echo.get_weather(")
    assert not one[1].startswith("echo.")  # the limit holds; what follows are notes
    assert any(line.startswith("note: ") and "crashes" in line for line in one)


def test_without_mcp_json_the_discovery_tools_say_where_they_looked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "TOOLKERNEL_HOME": str(home)}
    env.pop("TOOLKERNEL_MCP_CONFIG", None)
    names, found = discover(
        tmp_path, env, [("list_tool_names", {}), ("search_tools", {"query": "anything"})]
    )
    (note,) = names.structured_content["result"]
    assert note.startswith("note: no mcp.json was found")
    assert f"{home}/mcp.json" in note
    assert found.content[0].text.splitlines() == ["no tool matches 'anything'", note]


def test_add_server_and_remove_server_change_the_kernels_servers(tmp_path: Path) -> None:
    env = {**os.environ, "TOOLKERNEL_HOME": str(tmp_path / "home")}
    env.pop("TOOLKERNEL_MCP_CONFIG", None)
    entry = python_server("mortal_server.py")
    added, greeted, names, removed, after = discover(
        tmp_path,
        env,
        [
            ("add_server", {"name": "mortal", "config": entry}),
            ("execute_code", {"code": "await tools.mortal.greet(name='di')"}),
            ("list_tool_names", {}),
            ("remove_server", {"name": "mortal"}),
            ("list_tool_names", {}),
        ],
        lifecycle_tools=True,
    )
    assert added.structured_content["state"] == "connected"
    assert "hello di from" in greeted.content[0].text
    assert "mortal.greet" in names.structured_content["result"]
    assert not removed.is_error
    assert not any(n.startswith("mortal.") for n in after.structured_content["result"])
