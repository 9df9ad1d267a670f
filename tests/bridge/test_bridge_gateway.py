"""The bridge driving a kernel on a real kernel server, over its REST and websocket API.

The tests that take `kernel_server` or `bridge` run against both a `jupyter server` and an
Enterprise Gateway; what only Enterprise Gateway does is in test_bridge_enterprise_gateway.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from gateway_support import (
    WAIT,
    Bridge,
    CuttableProxy,
    EnterpriseGateway,
    JupyterServer,
    KernelServer,
    call,
    free_port,
    run,
    running_bridge,
)
from tk_support import LoopThread
from toolkernel.bridge import GatewayTarget, KernelSession, build_server
from toolkernel.cli import main
from toolkernel.errors import BridgeError

pytestmark = pytest.mark.timeout(240)
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")
KINDS = ["jupyter_server", "enterprise_gateway"]
"""The kernel servers the shared tests run against (fixtures in conftest.py)."""


@pytest.fixture(scope="module", params=KINDS)
def kernel_server(request: pytest.FixtureRequest) -> KernelServer:
    """Each kind of kernel server the bridge drives, started once for the module."""
    server: KernelServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture(scope="module")
def bridge(kernel_server: KernelServer) -> Iterator[Bridge]:
    with running_bridge(kernel_server.target()) as running:
        run(running, "await wait_for_servers(30)")
        yield running
    assert kernel_server.kernels() == []


def test_code_runs_in_a_kernel_on_the_server_and_keeps_state(
    bridge: Bridge, kernel_server: KernelServer
) -> None:
    assert run(bridge, "kept = 6 * 7\nprint('hello')\nkept") == "hello\n42"
    assert run(bridge, "kept + 1") == "43"
    assert len(kernel_server.kernels()) == 1


def test_tools_are_called_from_code_in_the_remote_kernel(bridge: Bridge) -> None:
    assert run(bridge, "await tools.echo.add(a=2, b=3)") == "5"


def test_a_timeout_interrupts_the_remote_kernel_and_it_stays_usable(bridge: Bridge) -> None:
    run(bridge, "before_timeout = 1")
    result = call(bridge, "execute_code", {"code": "import time\ntime.sleep(60)", "timeout_s": 1})
    assert result.is_error
    assert result.content[0].text.startswith("Timed out")
    assert run(bridge, "before_timeout") == "1"


def test_discovery_answers_from_the_remote_kernels_bindings(bridge: Bridge) -> None:
    listed = call(bridge, "search_tools", {"server": "echo", "limit": 100})
    assert "echo.add(" in listed.content[0].text
    details = call(bridge, "get_tool_details", {"name": "echo.add"})
    assert details.content[0].text.startswith("await tools.echo.add(*, a: int, b: int) -> int")


def test_input_in_the_remote_kernel_is_relayed_as_an_elicitation(bridge: Bridge) -> None:
    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"value": "Ada"})

    code = "name = input('Your name?')\nprint('hi', name)"
    result = call(bridge, "execute_code", {"code": code}, elicitation_callback=elicit)
    assert result.content[0].text == "hi Ada"


def test_a_dead_remote_kernel_is_restarted_and_the_reply_says_state_was_lost(
    bridge: Bridge, kernel_server: KernelServer
) -> None:
    before = kernel_server.kernels()
    run(bridge, "doomed = 1")
    result = call(bridge, "execute_code", {"code": "import os\nos._exit(1)"})
    assert result.is_error
    assert "restarted" in result.content[0].text
    assert run(bridge, "'doomed' in globals()") == "False"
    run(bridge, "await wait_for_servers(30)")
    assert run(bridge, "await tools.echo.add(a=1, b=1)") == "2"
    assert kernel_server.kernels() == before


def test_a_kernel_that_died_between_calls_is_reported_on_the_next_cell(
    bridge: Bridge, kernel_server: KernelServer
) -> None:
    [kernel] = kernel_server.kernels()
    mark = len(kernel_server.log)
    run(bridge, "lost = 1\nimport os, threading\nthreading.Timer(0.2, os._exit, (1,)).start()")
    kernel_server.wait_for_log(f"kernel {kernel} restarted", after=mark)
    # The server sends its "restarting" status before any later reply on the websocket,
    # so once discovery answers (from the new kernel) the bridge has heard of the death.
    listed = call(bridge, "search_tools", {"server": "echo", "limit": 100})
    assert "echo.add(" in listed.content[0].text
    result = call(bridge, "execute_code", {"code": "'lost' in globals()"})
    assert result.is_error
    assert "restarted" in result.content[0].text
    assert run(bridge, "'lost' in globals()") == "False"


@pytest.mark.parametrize(
    "server_class", [JupyterServer, EnterpriseGateway], ids=["jupyter_server", "enterprise_gateway"]
)
def test_a_kernel_the_server_gave_up_on_is_replaced_through_the_rest_api(
    tmp_path: Path, server_class: type[JupyterServer | EnterpriseGateway]
) -> None:
    # With no restarts allowed, the server reports the dead kernel and forgets it.
    server = server_class(tmp_path, "--KernelRestarter.restart_limit=0")
    try:
        with running_bridge(server.target()) as bridge:
            [first] = server.kernels()
            run(bridge, "doomed = 1")
            result = call(bridge, "execute_code", {"code": "import os\nos._exit(1)"})
            assert "restarted" in result.content[0].text
            assert run(bridge, "'doomed' in globals()") == "False"
            [second] = server.kernels()
            assert second != first
        assert server.kernels() == []
    finally:
        server.stop()


def test_a_dropped_connection_is_reopened_and_the_kernel_keeps_its_state(
    kernel_server: KernelServer,
) -> None:
    proxy = CuttableProxy(kernel_server.port)
    loop = LoopThread(wait=WAIT)
    port = loop.run(proxy.start())
    session = KernelSession(gateway=kernel_server.target(url=f"http://127.0.0.1:{port}"))
    try:
        loop.run(session.start())
        bridge = (loop, build_server(session), session)
        run(bridge, "kept = 'before the cut'")
        loop.run(proxy.cut())
        assert run(bridge, "kept") == "'before the cut'"
    finally:
        loop.run(session.shutdown())
        loop.run(proxy.close())
        loop.close()


def test_a_missing_kernelspec_names_the_ones_the_server_has(kernel_server: KernelServer) -> None:
    session = KernelSession(gateway=kernel_server.target(kernel_name="no-such-kernel"))
    with pytest.raises(
        BridgeError, match=r"no kernelspec 'no-such-kernel'; available: .*toolkernel"
    ):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_shutdown_deletes_the_kernel_on_the_server(kernel_server: KernelServer) -> None:
    before = set(kernel_server.kernels())
    with running_bridge(kernel_server.target()):
        started = set(kernel_server.kernels()) - before
        assert len(started) == 1
    assert set(kernel_server.kernels()) == before


def test_the_kernel_works_in_the_servers_root(bridge: Bridge, kernel_server: KernelServer) -> None:
    assert run(bridge, "import os\nos.getcwd()") == repr(str(kernel_server.root))


def test_a_wrong_token_is_refused_at_start_with_a_clear_error(
    jupyter_server: JupyterServer,
) -> None:
    before = jupyter_server.kernels()
    session = KernelSession(gateway=jupyter_server.target(token="not-the-token"))  # noqa: S106
    with pytest.raises(BridgeError, match=r"refused the token \(HTTP 403\).*--gateway-token"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))
    assert jupyter_server.kernels() == before


def test_an_unreachable_gateway_says_to_check_the_url() -> None:
    session = KernelSession(gateway=GatewayTarget(f"http://127.0.0.1:{free_port()}", "t"))
    with pytest.raises(BridgeError, match=r"cannot reach the gateway .* check --gateway-url"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_gateway_url_and_connection_file_together_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["mcp", "--gateway-url", "http://127.0.0.1:1", "--connection-file", "k.json"])
    assert code == 1
    assert "pass one of them" in capsys.readouterr().err


def test_toolkernel_mcp_drives_a_gateway_kernel_with_the_token_from_the_environment(
    jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    env = {**os.environ, "TOOLKERNEL_GATEWAY_TOKEN": jupyter_server.token}
    params = StdioServerParameters(
        command=TOOLKERNEL,
        args=["mcp", "--gateway-url", jupyter_server.url],
        env=env,
        cwd=str(tmp_path),
    )

    async def scenario() -> str:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("execute_code", {"code": "import os\nos.getcwd()"})
        return str(result.content[0].text)

    assert asyncio.run(asyncio.wait_for(scenario(), WAIT)) == repr(str(jupyter_server.root))


def test_a_gateway_url_without_a_scheme_says_what_it_needs() -> None:
    session = KernelSession(gateway=GatewayTarget("127.0.0.1:8888", "t"))
    with pytest.raises(BridgeError, match="must start with http:// or https://"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_the_token_stays_out_of_the_targets_repr() -> None:
    target = GatewayTarget("http://127.0.0.1:8888", "s3cret-gateway-token")
    assert "s3cret" not in repr(target)
