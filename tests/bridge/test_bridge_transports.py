"""`toolkernel mcp` as a process: stdio with a real ClientSession, and the HTTP guard."""

from __future__ import annotations

import asyncio
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tk_support import echo_env

pytestmark = pytest.mark.timeout(180)
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")
APP_ORIGIN = "https://app.example"
TOKEN = "s3cret-token"  # noqa: S105 - the test bridge's token
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


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
        "add_server",
        "remove_server",
    ]
    assert again == "30"
    assert "echo.echo" in found


def serving_url(proc: subprocess.Popen[str], within: float) -> str:
    """The URL a starting bridge prints once its socket listens (it binds port 0)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:  # reads to the end, so the bridge never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + within
    try:
        while (line := lines.get(timeout=max(deadline - time.monotonic(), 0.01))) is not None:
            seen.append(line)
            if "serving streamable HTTP at " in line:
                return line.rsplit(" at ", 1)[1].strip()
    except queue.Empty:
        pytest.fail(f"the bridge did not serve within {within} s: {''.join(seen)}")
    pytest.fail(f"the bridge exited before serving: {''.join(seen)}")


@pytest.fixture(scope="module")
def http_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One HTTP bridge for the module's tests, allowing the extra origin APP_ORIGIN."""
    base = tmp_path_factory.mktemp("http-bridge")
    env = {**echo_env(base), "TOOLKERNEL_BRIDGE_TOKEN": TOKEN}
    argv = ["mcp", "--transport", "http", "--port", "0", "--allow-origin", APP_ORIGIN]
    proc = subprocess.Popen(
        [TOOLKERNEL, *argv], env=env, cwd=base, stderr=subprocess.PIPE, text=True
    )
    try:
        yield serving_url(proc, within=120), TOKEN
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_http_without_a_token_is_401_and_a_foreign_origin_is_403(
    http_bridge: tuple[str, str],
) -> None:
    url, token = http_bridge
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    with httpx.Client(timeout=10) as client:
        missing = client.post(url, json=body)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="toolkernel"'
        wrong = client.post(url, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        evil = client.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Origin": "http://evil.example"},
        )
        assert evil.status_code == 403


def test_http_refuses_a_foreign_host_header_and_accepts_the_loopback_names(
    http_bridge: tuple[str, str],
) -> None:
    # DNS rebinding: a page on evil.example, whose name now points at 127.0.0.1, sends
    # its own name as Host.
    url, token = http_bridge
    port = httpx.URL(url).port
    sent = {"Authorization": f"Bearer {token}", **ACCEPT}
    with httpx.Client(timeout=10) as client:
        rebound = client.post(
            url, json=INITIALIZE, headers={**sent, "Host": f"evil.example:{port}"}
        )
        by_name = client.post(url, json=INITIALIZE, headers={**sent, "Host": f"localhost:{port}"})
    assert rebound.status_code == 421
    assert by_name.status_code == 200


@pytest.mark.parametrize("origin", [None, APP_ORIGIN], ids=["no origin", "allowed origin"])
def test_http_with_the_token_serves_a_client_session(
    http_bridge: tuple[str, str], origin: str | None
) -> None:
    url, token = http_bridge
    headers = {"Authorization": f"Bearer {token}"} | ({"Origin": origin} if origin else {})

    async def scenario() -> Any:
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
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
