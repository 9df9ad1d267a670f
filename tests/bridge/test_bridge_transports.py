"""`toolkernel mcp` as a process: stdio with a real ClientSession, and the HTTP guard."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tk_support import echo_env

pytestmark = pytest.mark.timeout(180)
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")


def test_a_real_client_session_over_stdio_discovers_runs_code_and_keeps_state(
    tmp_path: Path,
) -> None:
    params = StdioServerParameters(
        command=TOOLKERNEL, args=["mcp"], env=echo_env(tmp_path), cwd=str(tmp_path)
    )

    async def scenario() -> tuple[list[str], str, str]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            names = [tool.name for tool in (await session.list_tools()).tools]
            # First call on a fresh home: discovery waits for the first connection.
            found = await session.call_tool("search_tools", {"query": "echo text", "limit": 1})
            await session.call_tool("execute_code", {"code": "x = await tools.echo.add(a=1, b=2)"})
            again = await session.call_tool("execute_code", {"code": "x * 10"})
        return names, again.content[0].text, str(found.structured_content)

    names, again, found = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert names == [
        "list_tool_names",
        "search_tools",
        "get_tool_details",
        "execute_code",
        "create_tool",
        "memory",
        "tool_versions",
        "diff_tool",
        "rollback_tool",
    ]
    assert again == "30"
    assert "echo.echo" in found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def http_bridge(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = {**echo_env(tmp_path), "TOOLKERNEL_BRIDGE_TOKEN": "s3cret-token"}
    proc = subprocess.Popen(
        [TOOLKERNEL, "mcp", "--transport", "http", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "serving streamable HTTP" in line:
            break
    # The bridge prints this line once its socket listens.
    yield f"http://127.0.0.1:{port}/mcp", "s3cret-token"
    proc.terminate()
    proc.wait(timeout=20)


def test_http_without_a_token_is_401_and_a_foreign_origin_is_403(
    http_bridge: tuple[str, str],
) -> None:
    url, token = http_bridge
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    with httpx.Client(timeout=10) as client:
        assert client.post(url, json=body).status_code == 401
        wrong = client.post(url, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        evil = client.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Origin": "http://evil.example"},
        )
        assert evil.status_code == 403


def test_http_with_the_token_serves_a_client_session(http_bridge: tuple[str, str]) -> None:
    url, token = http_bridge

    async def scenario() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with (
            http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await session.call_tool("execute_code", {"code": "'over http'"})

    result = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert result.content[0].text == "'over http'"


def test_a_non_loopback_address_without_a_token_is_refused(tmp_path: Path) -> None:
    env = echo_env(tmp_path)
    env.pop("TOOLKERNEL_BRIDGE_TOKEN", None)
    out = subprocess.run(
        [TOOLKERNEL, "mcp", "--transport", "http", "--host", "0.0.0.0"],  # noqa: S104
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "refusing to serve on 0.0.0.0 without a token" in out.stderr


def test_an_exposing_bridge_process_tells_its_client_when_the_registry_changes(
    tmp_path: Path,
) -> None:
    from mcp import types

    from toolkernel.registry import ToolRegistry

    env = echo_env(tmp_path)
    params = StdioServerParameters(
        command=TOOLKERNEL, args=["mcp", "--expose-tools"], env=env, cwd=str(tmp_path)
    )
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    def write_elsewhere() -> None:
        with ToolRegistry(Path(env["TOOLKERNEL_HOME"])) as other:
            other.add_version(
                "elsewhere.hello",
                kind="pipeline",
                manifest={
                    "description": "Written by another process.",
                    "input_schema": {"type": "object", "properties": {}},
                    "steps": [{"id": "say", "tool": "echo.echo", "args": {"text": "hi"}}],
                },
                note="from the CLI, say",
            )

    async def scenario() -> list[str]:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            await session.call_tool("execute_code", {"code": "await wait_for_servers(30)"})
            await session.list_tools()
            await asyncio.to_thread(write_elsewhere)
            names: list[str] = []
            while "elsewhere.hello" not in names:  # one notification per change seen
                await asyncio.wait_for(changed.wait(), 30)
                changed.clear()
                names = [tool.name for tool in (await session.list_tools()).tools]
            return names

    assert "elsewhere.hello" in asyncio.run(asyncio.wait_for(scenario(), 120))
