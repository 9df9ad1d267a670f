"""The bridge driving a kernel on a real Jupyter Server, over its REST and websocket API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from mcp import Client, types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tk_support import LoopThread, echo_env
from toolkernel.bridge import GatewayTarget, KernelSession, build_server
from toolkernel.cli import main
from toolkernel.errors import BridgeError

pytestmark = pytest.mark.timeout(240)
T = TypeVar("T")
WAIT = 90
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class JupyterServer:
    """A real `jupyter server` on a free loopback port, with a token and its own dirs."""

    def __init__(self, base: Path, *options: str) -> None:
        self.root = base
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **echo_env(base),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_CONFIG_DIR": str(base / "config"),
        }
        env.pop("TOOLKERNEL_GATEWAY_TOKEN", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False",
                "--allow-root",
                f"--ServerApp.root_dir={base}",
                *options,
            ],
            env=env,
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self.logged = threading.Condition()
        listening = threading.Event()
        # The reader keeps draining stderr for the server's whole life, so it never blocks
        # on a full pipe; it also ends the wait below at once if the server exits.
        self.drain = threading.Thread(target=self._drain, args=(listening,), daemon=True)
        self.drain.start()
        if not listening.wait(60) or self.proc.poll() is not None:
            self.stop()
            pytest.fail("jupyter server did not start:\n" + "".join(self.log[-30:]))
        status = httpx.get(f"{self.url}/api/status", headers=self.headers, timeout=10)
        assert status.status_code == 200, status.text

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def _drain(self, listening: threading.Event) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.logged:
                self.log.append(line)
                self.logged.notify_all()
            if f"127.0.0.1:{self.port}/" in line:
                listening.set()
        listening.set()

    def wait_for_log(self, text: str, *, after: int, timeout: float = 30) -> None:
        """Wait until a line logged after the first `after` lines contains `text`."""
        with self.logged:
            if not self.logged.wait_for(
                lambda: any(text in line for line in self.log[after:]), timeout
            ):
                pytest.fail(f"the server never logged {text!r}:\n" + "".join(self.log[-30:]))

    def kernels(self) -> list[str]:
        response = httpx.get(f"{self.url}/api/kernels", headers=self.headers, timeout=10)
        response.raise_for_status()
        return [kernel["id"] for kernel in response.json()]

    def target(self, **overrides: Any) -> GatewayTarget:
        return GatewayTarget(**{"url": self.url, "token": self.token, **overrides})

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.drain.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


class CuttableProxy:
    """A TCP forwarder to the server whose open connections can be cut, as a proxy does."""

    def __init__(self, port: int) -> None:
        self.target_port = port
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.server.close()
        await self.cut()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, upstream}
        await asyncio.gather(self._pipe(reader, upstream), self._pipe(upstream_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


Bridge = tuple[LoopThread, Any, KernelSession]


@contextlib.contextmanager
def running_bridge(target: GatewayTarget) -> Iterator[Bridge]:
    loop = LoopThread(wait=WAIT)
    session = KernelSession(gateway=target)
    try:
        loop.run(session.start())
        server = build_server(session)
        yield loop, server, session
    finally:
        loop.run(session.shutdown())
        loop.close()


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bridge(jupyter: JupyterServer) -> Iterator[Bridge]:
    with running_bridge(jupyter.target()) as running:
        call(running, "execute_code", {"code": "await wait_for_servers(30)"})
        yield running
    assert jupyter.kernels() == []


def call(bridge: Bridge, tool: str, args: dict[str, Any], **callbacks: Any) -> Any:
    loop, server, _ = bridge

    async def scenario() -> Any:
        async with Client(server, mode="legacy", **callbacks) as client:
            return await client.call_tool(tool, args)

    return loop.run(scenario())


def run(bridge: Bridge, code: str) -> str:
    result = call(bridge, "execute_code", {"code": code})
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_code_runs_in_a_kernel_on_the_server_and_keeps_state(
    bridge: Bridge, jupyter: JupyterServer
) -> None:
    assert run(bridge, "import os\nkept = os.getcwd()\nprint('hello')\n6 * 7") == "hello\n42"
    assert run(bridge, "kept") == repr(str(jupyter.root))
    assert len(jupyter.kernels()) == 1


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
    bridge: Bridge, jupyter: JupyterServer
) -> None:
    before = jupyter.kernels()
    run(bridge, "doomed = 1")
    result = call(bridge, "execute_code", {"code": "import os\nos._exit(1)"})
    assert result.is_error
    assert "restarted" in result.content[0].text
    assert run(bridge, "'doomed' in globals()") == "False"
    run(bridge, "await wait_for_servers(30)")
    assert run(bridge, "await tools.echo.add(a=1, b=1)") == "2"
    assert jupyter.kernels() == before


def test_a_kernel_that_died_between_calls_is_reported_on_the_next_cell(
    bridge: Bridge, jupyter: JupyterServer
) -> None:
    [kernel] = jupyter.kernels()
    mark = len(jupyter.log)
    run(bridge, "lost = 1\nimport os, threading\nthreading.Timer(0.2, os._exit, (1,)).start()")
    jupyter.wait_for_log(f"kernel {kernel} restarted", after=mark)
    # The server sends its "restarting" status before any later reply on the websocket,
    # so once discovery answers (from the new kernel) the bridge has heard of the death.
    listed = call(bridge, "search_tools", {"server": "echo", "limit": 100})
    assert "echo.add(" in listed.content[0].text
    result = call(bridge, "execute_code", {"code": "'lost' in globals()"})
    assert result.is_error
    assert "restarted" in result.content[0].text
    assert run(bridge, "'lost' in globals()") == "False"


def test_a_kernel_the_server_gave_up_on_is_replaced_through_the_rest_api(
    tmp_path: Path,
) -> None:
    # With no restarts allowed, the server reports the dead kernel and forgets it.
    jupyter = JupyterServer(tmp_path, "--KernelRestarter.restart_limit=0")
    try:
        with running_bridge(jupyter.target()) as bridge:
            [first] = jupyter.kernels()
            run(bridge, "doomed = 1")
            result = call(bridge, "execute_code", {"code": "import os\nos._exit(1)"})
            assert "restarted" in result.content[0].text
            assert run(bridge, "'doomed' in globals()") == "False"
            [second] = jupyter.kernels()
            assert second != first
        assert jupyter.kernels() == []
    finally:
        jupyter.stop()


def test_a_dropped_connection_is_reopened_and_the_kernel_keeps_its_state(
    jupyter: JupyterServer,
) -> None:
    proxy = CuttableProxy(jupyter.port)
    loop = LoopThread(wait=WAIT)
    port = loop.run(proxy.start())
    session = KernelSession(gateway=jupyter.target(url=f"http://127.0.0.1:{port}"))
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


def test_a_wrong_token_is_refused_at_start_with_a_clear_error(jupyter: JupyterServer) -> None:
    before = jupyter.kernels()
    session = KernelSession(gateway=jupyter.target(token="not-the-token"))  # noqa: S106
    with pytest.raises(BridgeError, match=r"refused the token \(HTTP 403\).*--gateway-token"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))
    assert jupyter.kernels() == before


def test_an_unreachable_gateway_says_to_check_the_url() -> None:
    session = KernelSession(gateway=GatewayTarget(f"http://127.0.0.1:{free_port()}", "t"))
    with pytest.raises(BridgeError, match=r"cannot reach the gateway .* check --gateway-url"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_a_missing_kernelspec_names_the_ones_the_server_has(jupyter: JupyterServer) -> None:
    session = KernelSession(gateway=jupyter.target(kernel_name="no-such-kernel"))
    with pytest.raises(
        BridgeError, match=r"no kernelspec 'no-such-kernel'; available: .*toolkernel"
    ):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_shutdown_deletes_the_kernel_on_the_server(jupyter: JupyterServer) -> None:
    before = set(jupyter.kernels())
    with running_bridge(jupyter.target()):
        started = set(jupyter.kernels()) - before
        assert len(started) == 1
    assert set(jupyter.kernels()) == before


def test_gateway_url_and_connection_file_together_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["mcp", "--gateway-url", "http://127.0.0.1:1", "--connection-file", "k.json"])
    assert code == 1
    assert "pass one of them" in capsys.readouterr().err


def test_toolkernel_mcp_drives_a_gateway_kernel_with_the_token_from_the_environment(
    jupyter: JupyterServer, tmp_path: Path
) -> None:
    env = {**os.environ, "TOOLKERNEL_GATEWAY_TOKEN": jupyter.token}
    params = StdioServerParameters(
        command=TOOLKERNEL, args=["mcp", "--gateway-url", jupyter.url], env=env, cwd=str(tmp_path)
    )

    async def scenario() -> str:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("execute_code", {"code": "import os\nos.getcwd()"})
        return str(result.content[0].text)

    assert asyncio.run(asyncio.wait_for(scenario(), WAIT)) == repr(str(jupyter.root))


def test_a_gateway_url_without_a_scheme_says_what_it_needs() -> None:
    session = KernelSession(gateway=GatewayTarget("127.0.0.1:8888", "t"))
    with pytest.raises(BridgeError, match="must start with http:// or https://"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_the_token_stays_out_of_the_targets_repr() -> None:
    target = GatewayTarget("http://127.0.0.1:8888", "s3cret-gateway-token")
    assert "s3cret" not in repr(target)
