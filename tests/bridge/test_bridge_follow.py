"""The bridge follows the registry: an edit elsewhere reaches MCP clients as list_changed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, types

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession, build_server
from toolkernel.registry import ToolRegistry

pytestmark = pytest.mark.timeout(180)

SHOUT = {
    "name": "local.shout",
    "kind": "pipeline",
    "description": "Echo a text.",
    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
    "steps": [{"id": "say", "tool": "echo.echo", "args": {"text": "${input.text}"}}],
}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any, Path]]:
    base = tmp_path_factory.mktemp("follow")
    (base / "tools").mkdir()
    env = echo_env(base) | {"TOOLKERNEL_TOOL_FOLDERS": str(base / "tools")}
    loop = LoopThread()
    session = KernelSession(cwd=base, env=env)
    loop.run(session.start())
    server = build_server(session, expose_tools=True)
    loop.run(session.request("session/ready", {"timeout_s": 30}))
    registry = ToolRegistry(Path(env["TOOLKERNEL_HOME"]))
    follower = asyncio.run_coroutine_threadsafe(
        server.follow_registry(registry, interval=0.05), loop.loop
    )
    yield loop, server, base
    follower.cancel()
    loop.run(session.shutdown())
    registry.close()
    loop.close()


async def listen_for_change(server: Any, change: Any) -> list[str]:
    """Connect a client, make `change`, and return the tool names after list_changed."""
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with Client(server, mode="legacy", message_handler=on_message) as client:
        await client.list_tools()
        await anyio.to_thread.run_sync(change)
        with anyio.fail_after(20):
            await changed.wait()
        return [tool.name for tool in (await client.list_tools()).tools]


def test_a_hot_reloaded_tool_folder_reaches_the_client_as_list_changed(bridge: Any) -> None:
    loop, server, base = bridge

    def add_folder() -> None:
        folder = base / "tools" / "shout"
        folder.mkdir()
        (folder / "tool.json").write_text(json.dumps(SHOUT))

    assert "local__shout" in loop.run(listen_for_change(server, add_folder))


def test_a_tool_written_by_another_process_reaches_the_client_as_list_changed(
    bridge: Any,
) -> None:
    loop, server, base = bridge

    def write_elsewhere() -> None:
        with ToolRegistry(base / "home") as other:
            other.add_version(
                "elsewhere.upper",
                kind="pipeline",
                manifest={
                    "description": "Made by another process.",
                    "input_schema": {"type": "object", "properties": {}},
                    "steps": [{"id": "say", "tool": "echo.echo", "args": {"text": "HI"}}],
                },
                note="written by the CLI, say",
            )

    assert "elsewhere__upper" in loop.run(listen_for_change(server, write_elsewhere))
