"""A kernel per MCP session over streamable HTTP: real bridge processes, real clients.

Each bridge here is a `toolkernel mcp --transport http` process; each client a real
`ClientSession` over `streamable_http_client`. The bridge's `/status` endpoint (behind
the same bearer token) is the observable for the pool and the open sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from test_bridge_transports import TOKEN, TOOLKERNEL, serving_url

from tk_support import echo_env

pytestmark = pytest.mark.timeout(300)

POOL_SIZE = 2
CONCURRENT = 12
ROOMY = ("--pool-size", str(POOL_SIZE), "--max-sessions", str(CONCURRENT + 2))
"""Bridge options: a warm pool, and room for the concurrent sessions and two more."""


@pytest.fixture(scope="module")
def sessions_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bridge with a warm pool and room for the concurrent sessions."""
    with _bridge(tmp_path_factory.mktemp("sessions"), *ROOMY) as url:
        yield url


def test_twelve_concurrent_sessions_each_see_their_own_variables(sessions_bridge: str) -> None:
    async def one(i: int) -> str:
        async with _client(sessions_bridge) as (session, _):
            return await _own_variable(session, i)

    async def scenario() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(CONCURRENT)))

    printed = asyncio.run(asyncio.wait_for(scenario(), 240))
    assert printed == [str(i) for i in range(CONCURRENT)]


def test_a_client_reconnecting_with_its_session_id_gets_its_kernel_back(
    sessions_bridge: str,
) -> None:
    async def scenario() -> tuple[str, str, str]:
        # The first client leaves without ending its session (no DELETE).
        async with _client(sessions_bridge, terminate=False) as (session, session_id):
            await _run(session, "kept = 41")
            first = session_id()
        async with _client(sessions_bridge, headers={"mcp-session-id": first}) as (again, again_id):
            return await _run(again, "kept + 1"), first, again_id()

    answer, first, again = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert again == first  # the bridge kept serving the same session
    assert answer == "42"


def test_the_pool_refills_after_sessions_take_its_kernels(sessions_bridge: str) -> None:
    async def take_two() -> None:
        async def one() -> None:
            async with _client(sessions_bridge) as (session, _):
                await _run(session, "1")

        await asyncio.gather(one(), one())

    taken_before = _status(sessions_bridge)["pool"]["taken"]
    asyncio.run(asyncio.wait_for(take_two(), 120))
    assert _status(sessions_bridge)["pool"]["taken"] == taken_before + 2
    refilled = _wait_for(sessions_bridge, lambda s: s["pool"]["ready"] == POOL_SIZE, within=120)
    assert refilled["pool"]["discarded"] == 0


def test_a_session_idle_past_the_timeout_is_told_its_state_was_lost(tmp_path: Path) -> None:
    async def scenario(url: str) -> str:
        async with _client(url) as (session, session_id):
            await _run(session, "precious = 1")
            # The cull ends the session: the bridge counts no open session any more.
            await asyncio.to_thread(_wait_for, url, lambda s: s["sessions"] == 0, 60)
            with pytest.raises(MCPError) as lost:
                await session.call_tool("execute_code", {"code": "precious"})
            assert session_id() in str(lost.value)
            return str(lost.value)

    with _bridge(tmp_path, "--pool-size", "0", "--session-idle-timeout", "1") as url:
        message = asyncio.run(asyncio.wait_for(scenario(url), 120))
    assert "idle" in message
    assert "variables are gone" in message
    assert "start a new session" in message


def test_a_session_over_the_limit_is_refused_at_once_with_a_clear_error(tmp_path: Path) -> None:
    async def scenario(url: str) -> tuple[list[str], str]:
        async with _client(url) as (first, _), _client(url) as (second, _):
            served = [await _run(first, "'one'"), await _run(second, "'two'")]
            return served, await _refusal(url)

    with _bridge(tmp_path, "--pool-size", "0", "--max-sessions", "2") as url:
        served, message = asyncio.run(asyncio.wait_for(scenario(url), 120))
    assert served == ["'one'", "'two'"]
    assert "maximum of 2 sessions" in message
    assert "--max-sessions" in message


def test_a_session_whose_kernel_fails_to_start_is_told_why_and_may_retry(tmp_path: Path) -> None:
    # A real kernelspec whose process exits at once, as a broken kernel image would.
    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", "import sys; sys.exit(3)"]
    spec.joinpath("kernel.json").write_text(json.dumps({"argv": argv, "display_name": "x"}))
    jupyter_path = {"JUPYTER_PATH": str(tmp_path / "jupyter")}

    async def scenario(url: str) -> tuple[list[str], str]:
        async with _client(url) as (session, _):
            failures = []
            for _ in range(2):  # the next call of the same session tries a new kernel
                result = await session.call_tool("execute_code", {"code": "1"})
                assert result.is_error
                failures.append(result.content[0].text)  # type: ignore[union-attr]
        async with _client(url) as (other, _):  # the bridge serves other sessions still
            listed = await other.list_tools()
        return failures, ",".join(tool.name for tool in listed.tools)

    args = ("--pool-size", "0", "--kernel-name", "broken")
    with _bridge(tmp_path, *args, extra_env=jupyter_path) as url:
        failures, tools = asyncio.run(asyncio.wait_for(scenario(url), 180))
        failed = _status(url)["pool"]["failed"]
    for message in failures:
        assert "this session's kernel failed to start" in message
        assert "the 'broken' kernel exited with status 3 before it answered" in message
        assert "retry the call" in message
    assert "execute_code" in tools
    assert failed >= 2


# --- helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _bridge(base: Path, *args: str, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """A bridge process serving HTTP with `args`; yields its URL, stops it on exit."""
    env = {**echo_env(base), "TOOLKERNEL_BRIDGE_TOKEN": TOKEN, **(extra_env or {})}
    argv = [TOOLKERNEL, "mcp", "--transport", "http", "--port", "0", *args]
    proc = subprocess.Popen(argv, env=env, cwd=base, stderr=subprocess.PIPE, text=True)
    try:
        yield serving_url(proc, within=120)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@contextlib.asynccontextmanager
async def _client(
    url: str, *, headers: dict[str, str] | None = None, terminate: bool = True
) -> AsyncIterator[tuple[ClientSession, Callable[[], str]]]:
    """An initialized `ClientSession`, and a function giving its `Mcp-Session-Id`.

    `terminate=False` leaves without ending the session (no DELETE), as a client that
    lost its connection would.
    """
    ids: list[str] = []

    async def remember(response: httpx2.Response) -> None:
        if session_id := response.headers.get("mcp-session-id"):
            ids.append(session_id)

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})},
        timeout=httpx2.Timeout(30.0, read=300.0),
        event_hooks={"response": [remember]},
    )
    async with (
        http,
        streamable_http_client(url, http_client=http, terminate_on_close=terminate) as (r, w),
        ClientSession(r, w) as session,
    ):
        await session.initialize()
        yield session, lambda: ids[-1]


async def _run(session: ClientSession, code: str) -> str:
    result = await session.call_tool("execute_code", {"code": code})
    assert not result.is_error, result.content
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text.strip()


async def _own_variable(session: ClientSession, i: int) -> str:
    """Set `mine = i` in the session's kernel, then print it back from a second cell."""
    await _run(session, f"mine = {i}")
    return await _run(session, "print(mine)")


async def _refusal(url: str) -> str:
    """The errors met opening one more session (within 30 s), one a line; '' if none."""
    refusals: list[str] = []
    try:
        async with asyncio.timeout(30), _client(url):
            pass
    except* MCPError as group:  # raised through the client's task groups
        refusals = _messages(group)
    return "\n".join(refusals)


def _messages(error: BaseException) -> list[str]:
    """The messages of `error`, or of every error in it when it is a group."""
    if isinstance(error, BaseExceptionGroup):
        return [text for inner in error.exceptions for text in _messages(inner)]
    return [str(error)]


def _status(url: str) -> dict[str, Any]:
    status_url = url.removesuffix("/mcp") + "/status"
    response = httpx2.get(status_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _wait_for(url: str, done: Callable[[dict[str, Any]], bool], within: float) -> dict[str, Any]:
    """Poll the bridge's status until `done` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not done(status := _status(url)):
        if time.monotonic() > deadline:
            pytest.fail(f"the bridge's status did not get there within {within} s: {status}")
        time.sleep(0.1)  # a polling interval, bounded by the deadline
    return status


def _until(done: Callable[[], bool], state: Callable[[], str], within: float = 120) -> None:
    """Poll `done` until it holds; fail after `within` seconds, saying the `state`."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not done within {within} s: {state()}")
        time.sleep(0.1)  # a polling interval, bounded by the deadline
