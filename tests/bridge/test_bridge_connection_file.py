"""`--connection-file`: the bridge drives a kernel someone else started, who can watch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tk_support import LoopThread, python_server, start_kernel
from toolkernel.bridge import KernelSession, build_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def shared_kernel(tmp_path: Path) -> Iterator[tuple[Any, LoopThread, Any]]:
    person = start_kernel(tmp_path, {"echo": python_server("echo_server.py")})
    loop = LoopThread()
    session = KernelSession(connection_file=Path(person.manager.connection_file))
    loop.run(session.start())
    yield person, loop, build_server(session)
    loop.run(session.shutdown())
    loop.close()
    person.shutdown()


def test_the_person_sees_what_the_agent_did_in_the_same_kernel(shared_kernel: Any) -> None:
    person, loop, server = shared_kernel

    async def agent() -> str:
        async with Client(server) as client:
            result = await client.call_tool(
                "execute_code", {"code": "agent_result = await tools.echo.add(a=20, b=22)"}
            )
            return str(result.is_error)

    assert loop.run(agent()) == "False"
    assert person.value("agent_result") == 42


def test_a_timeout_interrupts_a_kernel_the_bridge_did_not_start(shared_kernel: Any) -> None:
    person, loop, server = shared_kernel

    async def agent() -> tuple[bool, str]:
        async with Client(server) as client:
            slow = await client.call_tool(
                "execute_code", {"code": "import time\ntime.sleep(60)", "timeout_s": 1}
            )
            after = await client.call_tool("execute_code", {"code": "'still alive'"})
            return bool(slow.is_error), after.content[0].text

    timed_out, after = loop.run(agent())
    assert timed_out
    assert after == "'still alive'"
    assert person.value("1 + 1") == 2
