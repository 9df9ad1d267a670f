"""The kernel the bridge starts: its command line, and output through a fast reply."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession, build_server
from toolkernel.bridge._session import BRIDGE_KERNEL_ARGUMENTS, bridge_kernel_arguments
from toolkernel.kernelspec import sandboxed_kernel_json

pytestmark = pytest.mark.timeout(180)
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("bridge-kernel")
    loop = LoopThread()
    session = KernelSession(cwd=base, env=echo_env(base))
    loop.run(session.start())
    yield loop, build_server(session)
    loop.run(session.shutdown())
    loop.close()


def run(bridge: tuple[LoopThread, Any], code: str) -> tuple[bool, str]:
    loop, server = bridge

    async def call() -> Any:
        async with Client(server) as client:
            return await client.call_tool("execute_code", {"code": code})

    result = loop.run(call())
    return bool(result.is_error), "\n".join(c.text for c in result.content if c.type == "text")


def test_the_bridges_kernel_keeps_input_history_in_memory_only(bridge: Any) -> None:
    run(bridge, "y = 2")
    failed, text = run(bridge, "str(get_ipython().history_manager.hist_file), _i")
    assert not failed
    assert text == "(':memory:', 'y = 2')"


def test_history_of_this_session_still_answers_percent_history(bridge: Any) -> None:
    run(bridge, "marker = 'kept in history'")
    failed, text = run(bridge, "%history -l 3")
    assert not failed
    assert "marker = 'kept in history'" in text


def test_output_written_as_the_cell_ends_is_in_the_reply(bridge: Any) -> None:
    code = (
        "import sys, threading\n"
        "t = threading.Thread(target=lambda: print('thread'))\n"
        "t.start(); t.join()\n"
        "sys.stderr.write('err')\n"
        "print('end', end='')"
    )
    for _ in range(10):
        assert run(bridge, code) == (False, "thread\nend\nerr")


def test_every_message_of_a_cell_that_ends_as_it_writes_is_in_the_reply(bridge: Any) -> None:
    # The bridge ends a cell on its reply once it has the count of messages the kernel
    # published: here about 200, the last ones sent just before the reply.
    code = (
        "import sys\n"
        "for i in range(100):\n"
        "    print(i, flush=True)\n"
        "    sys.stderr.write(f'e{i} '); sys.stderr.flush()\n"
        "display('shown')\n"
        "print('last', end='')"
    )
    out = "".join(f"{i}\n" for i in range(100))
    err = "".join(f"e{i} " for i in range(100))
    for _ in range(5):
        failed, text = run(bridge, code)
        assert not failed
        assert text.startswith(out)
        assert "last" in text
        assert err.rstrip() in text
        assert "'shown'" in text


def test_the_bridges_kernel_has_no_subshells_and_counts_what_it_publishes(bridge: Any) -> None:
    code = "get_ipython().kernel._supports_kernel_subshells, get_ipython().kernel._published"
    failed, text = run(bridge, code)
    assert not failed
    assert text.startswith("(False, <toolkernel.kernel._published.PublishedCounter")


def test_the_bridges_arguments_go_only_to_toolkernel_kernels(tmp_path: Path) -> None:
    toolkernel = KernelSpecManager().get_kernel_spec("toolkernel")
    assert bridge_kernel_arguments(toolkernel) == list(BRIDGE_KERNEL_ARGUMENTS)
    stock = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    assert bridge_kernel_arguments(stock) == []
    sandboxed = bridge_kernel_arguments(KernelSpec(**sandboxed_kernel_json()))
    assert sandboxed == [f"--kernel-option={option}" for option in BRIDGE_KERNEL_ARGUMENTS]
    assert bridge_kernel_arguments(None) == []


def test_an_option_the_kernelspec_sets_itself_is_left_to_it() -> None:
    own = KernelSpec(argv=[*toolkernel_argv(), "--ToolKernelApp.subshells=True"])
    assert bridge_kernel_arguments(own) == ["--HistoryManager.hist_file=:memory:"]
    sandboxed = KernelSpec(**sandboxed_kernel_json())
    sandboxed.argv = [*sandboxed.argv, "--kernel-option=--HistoryManager.hist_file=/h.db"]
    assert bridge_kernel_arguments(sandboxed) == ["--kernel-option=--ToolKernelApp.subshells=False"]


def toolkernel_argv() -> list[str]:
    return [sys.executable, "-P", "-m", "toolkernel.launcher", "-f", "{connection_file}"]


def test_a_subprocess_writing_to_stdout_never_reaches_the_stdio_wire(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=TOOLKERNEL, args=["mcp"], env=echo_env(tmp_path), cwd=str(tmp_path)
    )
    stray: list[Exception] = []

    async def record(message: Any) -> None:
        if isinstance(message, Exception):  # a line on the wire that is not JSON-RPC
            stray.append(message)

    code = "import subprocess\nsubprocess.run(['echo', 'from-a-child'], check=True).returncode"

    async def scenario() -> tuple[str, str]:
        with (tmp_path / "stderr.log").open("w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write, message_handler=record) as session,
            ):
                await session.initialize()
                ran = await session.call_tool("execute_code", {"code": code})
                after = await session.call_tool("execute_code", {"code": "6 * 7"})
        return ran.content[0].text, after.content[0].text

    ran, after = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert ran.endswith("0")
    assert after == "42"
    assert stray == []
    assert "from-a-child" in (tmp_path / "stderr.log").read_text()
