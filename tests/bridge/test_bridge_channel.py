"""The typed channel: discovery and exposed calls answered beside a running cell, and
exposed calls on the session's one call path (pins, progress, the relay)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, types

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession, build_server
from toolkernel.bridge._channel import ChannelError

pytestmark = pytest.mark.timeout(180)
BOUND_S = 60


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any, Path]]:
    base = tmp_path_factory.mktemp("channel")
    loop = LoopThread()
    session = KernelSession(cwd=base, env=echo_env(base))
    loop.run(session.start())
    server = build_server(session, expose_tools=True, lifecycle_tools=True)
    loop.run(session.request("session/ready", {"timeout_s": 30}))
    yield loop, server, base
    loop.run(session.shutdown())
    loop.close()


def gate(base: Path, name: str) -> Path:
    """A named pipe: a cell that reads it blocks until the test writes it."""
    path = base / name
    os.mkfifo(path)
    return path


async def open_gate(path: Path) -> None:
    # Opening a FIFO for writing waits for its reader: the cell is running by then.
    def release() -> None:
        with path.open("w") as fifo:
            fifo.write("go\n")

    await asyncio.wait_for(asyncio.to_thread(release), BOUND_S)


@pytest.mark.parametrize(
    "cell",
    [
        # Blocks the kernel's main thread: only a subshell can still answer.
        "text = open({gate!r}).read()\ntext.strip()",
        # Awaits: the main thread's loop is free, but the cell holds the shell.
        "import asyncio\n"
        "text = await asyncio.to_thread(lambda: open({gate!r}).read())\ntext.strip()",
    ],
    ids=["blocking", "awaiting"],
)
def test_discovery_answers_while_a_cell_runs(bridge: Any, cell: str) -> None:
    loop, server, base = bridge
    fifo = gate(base, f"gate-{len(list(base.iterdir()))}")

    async def scenario() -> tuple[Any, Any, Any, Any]:
        async with Client(server) as client:
            running = asyncio.create_task(
                client.call_tool("execute_code", {"code": cell.format(gate=str(fifo))})
            )
            # Each answer comes while the cell waits for the gate; if discovery queued
            # behind the cell, nothing would open the gate and the test would time out.
            found = await asyncio.wait_for(client.call_tool("search_tools", {"query": "add"}), 30)
            listed = client.call_tool("search_tools", {"server": "echo", "limit": 100})
            names = await asyncio.wait_for(listed, 30)
            added = await asyncio.wait_for(client.call_tool("echo__add", {"a": 2, "b": 3}), 30)
            still_running = not running.done()
            await open_gate(fifo)
            return found, names, (added, still_running), await running

    found, names, (added, still_running), cell_result = loop.run(scenario())
    assert still_running
    assert "echo.add(" in found.content[0].text
    assert "echo.add(" in names.content[0].text
    assert added.structured_content == {"result": 5}
    assert cell_result.content[0].text == "'go'"


def test_an_exposed_call_reports_progress(bridge: Any) -> None:
    loop, server, _ = bridge
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(
                "echo__progress", {"steps": 3}, progress_callback=on_progress
            )

    result = loop.run(scenario())
    assert not result.is_error
    assert seen == [(i, 3, f"step {i}/3") for i in range(1, 4)]


def test_an_exposed_call_relays_an_elicitation_to_the_calling_client(bridge: Any) -> None:
    loop, server, _ = bridge
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "blue"})

    async def scenario() -> types.CallToolResult:
        async with Client(server, mode="legacy", elicitation_callback=elicit) as client:
            return await client.call_tool("echo__ask_user", {"question": "Favourite colour?"})

    result = loop.run(scenario())
    assert asked == ["Favourite colour?"]
    assert result.content[0].text == "accept: blue"


def test_an_exposed_call_follows_the_lock_pins(bridge: Any) -> None:
    loop, server, _ = bridge
    make = (
        "for n in (1, 2):\n"
        "    create_tool('pinned', kind='wasm', language='wat', note=str(n), source='''\n"
        '(module (import "wasi_snapshot_preview1" "fd_write"\n'
        "  (func $w (param i32 i32 i32 i32) (result i32)))\n"
        '  (memory (export "memory") 1)\n'
        "  (data (i32.const 16) \"'''+str(n)+'''\")\n"
        '  (func (export "_start") (i32.store (i32.const 0) (i32.const 16))\n'
        "    (i32.store (i32.const 4) (i32.const 1))\n"
        "    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))''')\n"
        "get_ipython().kernel.toolbox.lock.load({'tools': {'local.pinned': {'version': 1}}})\n"
    )

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            made = await client.call_tool("execute_code", {"code": make, "timeout_s": 120})
            assert not made.is_error, made.content
            return await client.call_tool("local.pinned", {})

    result = loop.run(scenario())
    assert not result.is_error, result.content
    assert result.content[0].text == "1"  # version 1 answers, though 2 is current


def test_a_channel_error_names_the_kernels_exception(bridge: Any) -> None:
    loop, server, _ = bridge
    session = server._session
    with pytest.raises(ChannelError, match=r"^ToolNotFound: .*no_such_tool") as caught:
        loop.run(session.request("tools/details", {"name": "echo.no_such_tool"}))
    assert caught.value.kind == "ToolNotFound"
    with pytest.raises(ChannelError, match="no method"):
        loop.run(session.request("tools/nothing"))


def test_create_tool_takes_its_schema_and_its_checks_from_the_tool_draft(bridge: Any) -> None:
    from dataclasses import fields

    from toolkernel.kinds import ToolDraft

    loop, server, _ = bridge

    async def scenario() -> tuple[types.Tool, types.CallToolResult]:
        async with Client(server) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            refused = await client.call_tool(
                "create_tool", {"name": "x", "language": "wat", "source": "", "colour": "red"}
            )
            return tools["create_tool"], refused

    spec, refused = loop.run(scenario())
    assert set(spec.input_schema["properties"]) == {f.name for f in fields(ToolDraft)}
    assert spec.input_schema["required"] == ["name"]
    assert spec.input_schema["properties"]["kind"]["enum"] == ["wasm", "script", "pipeline"]
    assert refused.is_error
    assert "create_tool takes no argument 'colour'" in refused.content[0].text


def test_an_exposed_script_tools_context_says_what_the_calling_client_can_do(
    bridge: Any,
) -> None:
    loop, server, _ = bridge
    source = (Path(__file__).parents[1] / "script_sources" / "skillz_features.py").read_text()
    make = (
        f"create_tool('exposed_context', kind='script', language='python', source={source!r}, "
        "input_schema={'type': 'object', 'additionalProperties': True})"
    )

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def scenario() -> tuple[Any, Any]:
        async with Client(server) as client:
            made = await client.call_tool("execute_code", {"code": make, "timeout_s": 120})
            assert not made.is_error, made.content
        async with Client(server, mode="legacy", elicitation_callback=elicit) as client:
            eliciting = await client.call_tool("local.exposed_context", {"test": "context"})
        async with Client(server, mode="legacy") as client:
            bare = await client.call_tool("local.exposed_context", {"test": "context"})
        return eliciting, bare

    eliciting, bare = loop.run(scenario())
    assert not eliciting.is_error, eliciting.content
    capabilities = eliciting.structured_content["capabilities"]
    assert (capabilities["elicitation"], capabilities["sampling"]) == (True, False)
    capabilities = bare.structured_content["capabilities"]
    assert (capabilities["elicitation"], capabilities["sampling"]) == (False, False)


def test_the_bridges_own_kernel_has_no_subshells_and_serves_the_channel_on_control(
    bridge: Any,
) -> None:
    loop, server, _ = bridge

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            code = (
                "k = get_ipython().kernel\n"
                "k.kernel_info['supported_features'], k.kernel_info['toolkernel']"
            )
            return await client.call_tool("execute_code", {"code": code})

    result = loop.run(scenario())
    assert not result.is_error, result.content
    assert "kernel subshells" not in result.content[0].text
    assert "{'channel_on_control': True}" in result.content[0].text
