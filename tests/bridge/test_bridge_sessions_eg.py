"""A kernel per HTTP session when every kernel runs on a real Enterprise Gateway.

Each bridge is a `toolkernel mcp --transport http --gateway-url <EG>` process, each
client a real `ClientSession`; the gateway (local process proxy, one per module) is the
one from tests/bridge/conftest.py. Every kernel knows its own id on the gateway
(`KERNEL_ID`, set by the gateway), so the tests follow each session's kernel into the
gateway's own kernel list: gone once its session ends or is culled, and none left once
the bridge has exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from test_bridge_sessions import _bridge, _client, _messages, _run, _status, _wait_for

from gateway_support import EnterpriseGateway, call, run, running_bridge
from tk_support import python_server, write_config
from toolkernel.bridge import _session

pytestmark = pytest.mark.timeout(420)

POOL_SIZE = 2
KERNEL_ID = "import os\nprint(os.environ['KERNEL_ID'])"
"""A cell printing the id of its kernel on the gateway (which sets KERNEL_ID)."""
CONCURRENT = 12


@pytest.fixture(scope="module")
def eg_bridge(
    enterprise_gateway: EnterpriseGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A bridge whose pool and sessions run on the gateway, with room for twelve sessions.

    Its kernels are asked (`--gateway-env`) for an mcp.json of their own, which the
    gateway allows (`client_envs`), so they have the `other` server instead of `echo`.
    """
    base = tmp_path_factory.mktemp("eg-sessions")
    config = write_config(base / "other-mcp.json", {"other": python_server("echo_server.py")})
    with _eg_bridge(
        enterprise_gateway,
        base,
        "--gateway-env",
        f"TOOLKERNEL_MCP_CONFIG={config}",
        "--pool-size",
        str(POOL_SIZE),
        "--max-sessions",
        str(CONCURRENT + 2),
    ) as url:
        yield url
    _gone_from(enterprise_gateway, set(), "after the bridge exited")


def test_twelve_concurrent_sessions_on_the_gateway_each_have_their_own_kernel(
    eg_bridge: str, enterprise_gateway: EnterpriseGateway
) -> None:
    async def one(i: int) -> tuple[str, str]:
        async with _client(eg_bridge) as (session, _):
            await _run(session, f"mine = {i}")
            return await _run(session, "print(mine)"), await _kernel_id(session)

    async def scenario() -> list[tuple[str, str]]:
        return await asyncio.gather(*(one(i) for i in range(CONCURRENT)))

    answers = asyncio.run(asyncio.wait_for(scenario(), 360))
    assert [printed for printed, _ in answers] == [str(i) for i in range(CONCURRENT)]
    kernels = {kernel for _, kernel in answers}
    assert len(kernels) == CONCURRENT  # twelve kernels on the gateway, one per session
    # Every session ended (DELETE): its kernel is deleted on the gateway.
    _gone_from(enterprise_gateway, kernels, "after their sessions ended")


def test_a_session_on_the_gateway_gets_the_kernel_environment_the_bridge_asks_for(
    eg_bridge: str,
) -> None:
    async def scenario() -> tuple[str, str]:
        async with _client(eg_bridge) as (session, _):
            await _run(session, "await wait_for_servers(30)")
            user = await _run(session, "import os\nprint(os.environ['KERNEL_USERNAME'])")
            return user, await _run(session, "await tools.other.add(a=4, b=5)")

    user, added = asyncio.run(asyncio.wait_for(scenario(), 180))
    assert user == "toolkernel-test"  # --gateway-env KERNEL_USERNAME=...
    assert added == "9"  # from the mcp.json named by --gateway-env TOOLKERNEL_MCP_CONFIG=...


def test_a_client_reconnecting_with_its_session_id_gets_its_kernel_on_the_gateway_back(
    eg_bridge: str, enterprise_gateway: EnterpriseGateway
) -> None:
    async def scenario() -> tuple[str, str, str, str]:
        # The first client leaves without ending its session (no DELETE).
        async with _client(eg_bridge, terminate=False) as (session, session_id):
            await _run(session, "kept = 41")
            first, kernel = session_id(), await _kernel_id(session)
        assert kernel in enterprise_gateway.kernels()  # still there while the session is
        headers = {"mcp-session-id": first}
        async with _client(eg_bridge, headers=headers) as (again, again_id):
            answer = await _run(again, "kept + 1")
            return answer, await _kernel_id(again), first, again_id()

    answer, kernel_again, first, again = asyncio.run(asyncio.wait_for(scenario(), 180))
    assert again == first
    assert answer == "42"
    _gone_from(enterprise_gateway, {kernel_again}, "after the session ended")


def test_the_pool_on_the_gateway_refills_after_sessions_take_its_kernels(
    eg_bridge: str, enterprise_gateway: EnterpriseGateway
) -> None:
    ready = _wait_for(eg_bridge, lambda s: s["pool"]["ready"] == POOL_SIZE, within=180)

    async def take_two() -> set[str]:
        async def one() -> str:
            async with _client(eg_bridge) as (session, _):
                return await _kernel_id(session)

        return set(await asyncio.gather(one(), one()))

    before = set(enterprise_gateway.kernels())
    taken = asyncio.run(asyncio.wait_for(take_two(), 180))
    assert taken <= before  # both sessions got kernels the pool had started ahead
    refilled = _wait_for(eg_bridge, lambda s: s["pool"]["ready"] == POOL_SIZE, within=180)
    assert refilled["pool"]["taken"] == ready["pool"]["taken"] + 2
    assert refilled["pool"]["discarded"] == 0
    _gone_from(enterprise_gateway, taken, "after their sessions ended")
    # The refills are new kernels on the gateway.
    assert len(set(enterprise_gateway.kernels()) - before) == POOL_SIZE


def test_a_session_idle_on_the_gateway_is_culled_its_kernel_deleted_and_told_its_state_was_lost(
    enterprise_gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    async def scenario(url: str) -> tuple[str, str]:
        async with _client(url) as (session, session_id):
            await _run(session, "precious = 1")
            kernel = await _kernel_id(session)
            await asyncio.to_thread(_wait_for, url, lambda s: s["sessions"] == 0, 120)
            await asyncio.to_thread(_gone_from, enterprise_gateway, {kernel}, "after the cull")
            with pytest.raises(MCPError) as lost:
                await session.call_tool("execute_code", {"code": "precious"})
            assert session_id() in str(lost.value)
            return str(lost.value), kernel

    args = ("--pool-size", "0", "--session-idle-timeout", "1")
    with _eg_bridge(enterprise_gateway, tmp_path, *args) as url:
        message, _ = asyncio.run(asyncio.wait_for(scenario(url), 240))
    assert "idle" in message
    assert "variables are gone" in message
    assert "start a new session" in message


def test_a_session_over_the_limit_is_refused_without_starting_a_kernel_on_the_gateway(
    enterprise_gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    async def scenario(url: str) -> tuple[list[str], str, set[str], set[str]]:
        async with _client(url) as (first, _), _client(url) as (second, _):
            served = [await _run(first, "'one'"), await _run(second, "'two'")]
            kernels = {await _kernel_id(first), await _kernel_id(second)}
            before = set(enterprise_gateway.kernels())
            refusals: list[str] = []
            try:
                async with asyncio.timeout(30), _client(url):
                    pass
            except* MCPError as group:  # raised through the client's task groups
                refusals = _messages(group)
            after = set(enterprise_gateway.kernels())
            assert after == before, "the refused session started a kernel on the gateway"
            return served, "\n".join(refusals), kernels, after

    args = ("--pool-size", "0", "--max-sessions", "2")
    with _eg_bridge(enterprise_gateway, tmp_path, *args) as url:
        served, message, kernels, _ = asyncio.run(asyncio.wait_for(scenario(url), 240))
        assert _status(url)["pool"]["taken"] == 2  # the bridge started no kernel for it
        _gone_from(enterprise_gateway, kernels, "after their sessions ended")
    assert served == ["'one'", "'two'"]
    assert "maximum of 2 sessions" in message
    assert "--max-sessions" in message


def test_a_bridge_leaving_open_sessions_deletes_their_kernels_on_the_gateway_when_it_exits(
    enterprise_gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    async def leave_open(url: str) -> set[str]:
        async def one() -> str:
            async with _client(url, terminate=False) as (session, _):
                return await _kernel_id(session)

        return set(await asyncio.gather(one(), one()))

    before = set(enterprise_gateway.kernels())  # another bridge's
    with _eg_bridge(enterprise_gateway, tmp_path, "--pool-size", "1") as url:
        left = asyncio.run(asyncio.wait_for(leave_open(url), 180))
        pooled = _wait_for(url, lambda s: s["pool"]["ready"] == 1, within=180)
        assert pooled["sessions"] == 2
        mine = set(enterprise_gateway.kernels()) - before
    assert left < mine
    assert len(mine) == 3  # the two open sessions' kernels and the pool's
    _gone_from(enterprise_gateway, mine, "after the bridge exited")


MUTE_ON_RESTART = """\
import os, pathlib, threading
started = pathlib.Path({marks!r}) / os.environ["KERNEL_ID"]
if started.exists():  # this kernel is being restarted: come back mute, for good
    started.with_suffix(".mute").touch()
    threading.Event().wait()
started.touch()
"""


def test_a_kernel_whose_restart_on_the_gateway_never_answers_is_replaced_by_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An IPython startup file the kernels run (the gateway lets the client send
    # IPYTHONDIR) hangs a kernel's second start: its process is up, its shell mute.
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (tmp_path / "marks").mkdir()
    (startup / "00-mute.py").write_text(MUTE_ON_RESTART.format(marks=str(tmp_path / "marks")))
    monkeypatch.setattr(_session, "_RESTART_WAIT_S", 10.0)  # how long a mute kernel gets
    base = tmp_path / "gateway"
    base.mkdir()
    gateway = EnterpriseGateway(
        base,
        "--EnterpriseGatewayApp.client_envs=IPYTHONDIR",
        "--MappingKernelManager.kernel_info_timeout=5",
    )
    try:
        target = gateway.target(env={"IPYTHONDIR": str(tmp_path / "ipython")})
        with running_bridge(target) as bridge:
            first = run(bridge, "doomed = 1\n" + KERNEL_ID).strip()
            result = call(bridge, "execute_code", {"code": "import os\nos._exit(1)"})
            assert result.is_error
            assert "restarted" in result.content[0].text
            assert run(bridge, "'doomed' in globals()") == "False"
            second = run(bridge, KERNEL_ID).strip()
            assert (tmp_path / "marks" / f"{first}.mute").exists()  # its restart was mute
            assert second != first
            assert gateway.kernels() == [second]  # the mute one was deleted
        assert gateway.kernels() == []
    finally:
        gateway.stop()


# --- helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _eg_bridge(gateway: EnterpriseGateway, base: Path, *args: str) -> Iterator[str]:
    """A bridge process whose kernels run on `gateway`, as user `toolkernel-test` (the
    gateway refuses root, which CI runs as)."""
    with _bridge(
        base,
        "--gateway-url",
        gateway.url,
        "--gateway-token",
        gateway.token,
        "--gateway-env",
        "KERNEL_USERNAME=toolkernel-test",
        *args,
    ) as url:
        yield url


async def _kernel_id(session: ClientSession) -> str:
    """The id on the gateway of the kernel serving `session` (the gateway sets KERNEL_ID)."""
    return await _run(session, KERNEL_ID)


def _gone_from(
    gateway: EnterpriseGateway, kernels: set[str], when: str, within: float = 120
) -> None:
    """Wait until none of `kernels` is on the gateway (with an empty set: none at all)."""

    def remaining() -> set[str]:
        listed = set(gateway.kernels())
        return listed & kernels if kernels else listed

    _until(lambda: not remaining(), lambda: f"still on the gateway {when}: {remaining()}", within)


def _until(done: Callable[[], bool], state: Callable[[], str], within: float) -> None:
    """Poll `done` until it holds; fail after `within` seconds, saying the `state`."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not done within {within} s: {state()}")
        time.sleep(0.1)  # a polling interval, bounded by the deadline
