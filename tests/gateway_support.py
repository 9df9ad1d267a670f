"""Real kernel servers for the bridge's gateway tests: `jupyter server` and Enterprise Gateway.

Both run as child processes on a free loopback port with a token, their own Jupyter dirs
under a temp folder, and stderr drained for the process's whole life (so the log can be
awaited and shown when something fails). Enterprise Gateway pins old Jupyter packages and
cannot share `.venv`: `.ci/setup` builds it its own venv (see `eg_python`).

Shared by the tests of the single-kernel bridge and of per-session kernels, through the
fixtures in tests/bridge/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from tk_support import LoopThread, echo_env, python_server, write_config
from toolkernel.bridge import GatewayTarget, KernelSession, build_server
from toolkernel.kernelspec import KERNEL_NAME, write_kernel_spec

ROOT = Path(__file__).resolve().parent.parent
EG_VENV = ROOT / ".ci" / ".venvs" / "enterprise-gateway"
"""Where `.ci/setup` installs Jupyter Enterprise Gateway (kept out of `.venv`)."""
EG_PYTHON_ENV_VAR = "TOOLKERNEL_EG_PYTHON"
"""Overrides the interpreter that runs Enterprise Gateway (one with it installed)."""
START_S = 60.0
WAIT = 90.0
"""Bound on each bridge call the tests make (a kernel start on a busy machine included)."""

Bridge = tuple[LoopThread, Any, KernelSession]
"""A bridge on its own event loop thread: the loop, its MCP server, its kernel session."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def eg_python() -> Path:
    """The interpreter of Enterprise Gateway's venv; fails the test, saying how to build it."""
    configured = os.environ.get(EG_PYTHON_ENV_VAR)
    python = Path(configured) if configured else EG_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"{python} is missing: run `bash .ci/setup` to build Enterprise Gateway's venv "
            f"(or set ${EG_PYTHON_ENV_VAR} to a python that has jupyter_enterprise_gateway)"
        )
    return python


class KernelServer:
    """A kernel server child process on a free loopback port, with a token."""

    name = "kernel server"

    def __init__(self, base: Path, argv: list[str], env: Mapping[str, str]) -> None:
        self.root = base
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **env,
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            "JUPYTER_DATA_DIR": str(base / "data"),
        }
        env.pop("TOOLKERNEL_GATEWAY_TOKEN", None)
        self.proc = subprocess.Popen(
            [arg.format(port=self.port, token=self.token) for arg in argv],
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
        if not listening.wait(START_S) or self.proc.poll() is not None:
            self.stop()
            pytest.fail(f"{self.name} did not start:\n" + "".join(self.log[-30:]))
        status = httpx.get(f"{self.url}/api/kernelspecs", headers=self.headers, timeout=10)
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
            if f"127.0.0.1:{self.port}" in line:
                listening.set()
        listening.set()

    def wait_for_log(self, text: str, *, after: int, timeout: float = 30) -> None:
        """Wait until a line logged after the first `after` lines contains `text`."""
        with self.logged:
            if not self.logged.wait_for(
                lambda: any(text in line for line in self.log[after:]), timeout
            ):
                pytest.fail(f"{self.name} never logged {text!r}:\n" + "".join(self.log[-30:]))

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


class JupyterServer(KernelServer):
    """A real `jupyter server` (from `.venv`), whose kernels get this process's environment
    plus a fresh toolkernel home with the echo server."""

    name = "jupyter server"

    def __init__(self, base: Path, *options: str) -> None:
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ip=127.0.0.1",
            "--port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            "--allow-root",
            f"--ServerApp.root_dir={base}",
            *options,
        ]
        super().__init__(base, argv, echo_env(base))


class EnterpriseGateway(KernelServer):
    """A real Jupyter Enterprise Gateway with its local process proxy.

    Its only kernelspec is `toolkernel`, written into a temp `JUPYTER_PATH`: its argv runs
    this interpreter (so the kernel has toolkernel), and its `env` stanza bakes in a
    toolkernel home and an mcp.json with the echo server, as a kernel image would.
    Kernels inherit only `PATH` and `PYTHONPATH` from the gateway; a client may set
    `TOOLKERNEL_MCP_CONFIG` (allowed in `client_envs`) and any `KERNEL_*` variable.
    """

    name = "Enterprise Gateway"

    def __init__(self, base: Path, *options: str) -> None:
        # Not in `base`, the kernels' working directory: only the kernelspec points at it.
        (base / "image").mkdir()
        self.config = write_config(
            base / "image" / "mcp.json", {"echo": python_server("echo_server.py")}
        )
        self.home = base / "image" / "home"
        spec = write_kernel_spec(
            base / "share" / "jupyter" / "kernels" / KERNEL_NAME, executable=sys.executable
        )
        document = json.loads((spec / "kernel.json").read_text(encoding="utf-8"))
        document["env"] = {
            "TOOLKERNEL_HOME": str(self.home),
            "TOOLKERNEL_MCP_CONFIG": str(self.config),
        }
        (spec / "kernel.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "JUPYTER_PATH": str(base / "share" / "jupyter"),
            "EG_INHERITED_ENVS": "PATH,PYTHONPATH",
            "EG_CLIENT_ENVS": "TOOLKERNEL_MCP_CONFIG",
        }
        if "PYTHONPATH" in os.environ:  # a worktree's toolkernel, ahead of .venv's
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        argv = [
            str(eg_python()),
            "-m",
            "enterprise_gateway",
            "--EnterpriseGatewayApp.ip=127.0.0.1",
            "--EnterpriseGatewayApp.port={port}",
            "--EnterpriseGatewayApp.port_retries=0",
            "--EnterpriseGatewayApp.auth_token={token}",
            "--EnterpriseGatewayApp.list_kernels=True",
            "--EnterpriseGatewayApp.default_kernel_name=" + KERNEL_NAME,
            "--KernelSpecManager.ensure_native_kernel=False",
            *options,
        ]
        super().__init__(base, argv, env)

    def target(self, **overrides: Any) -> GatewayTarget:
        """A target on this gateway. Its kernels' user is `toolkernel-test` unless `env`
        names another: the gateway refuses root, which the tests run as in CI."""
        env = {"KERNEL_USERNAME": "toolkernel-test", **overrides.pop("env", {})}
        return super().target(env=env, **overrides)


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


@contextlib.contextmanager
def running_bridge(target: GatewayTarget, *, timeout: float = START_S) -> Iterator[Bridge]:
    """A bridge whose kernel runs on `target` (started within `timeout` seconds); the
    kernel is shut down on exit."""
    loop = LoopThread(wait=WAIT)
    session = KernelSession(gateway=target)
    try:
        loop.run(session.start(timeout))
        server = build_server(session)
        yield loop, server, session
    finally:
        loop.run(session.shutdown())
        loop.close()


def call(bridge: Bridge, tool: str, args: dict[str, Any], **callbacks: Any) -> Any:
    """Call one of the bridge's MCP tools through an in-memory client."""
    loop, server, _ = bridge

    async def scenario() -> Any:
        async with Client(server, mode="legacy", **callbacks) as client:
            return await client.call_tool(tool, args)

    return loop.run(scenario())


def run(bridge: Bridge, code: str) -> str:
    """`execute_code` through the bridge; its text blocks, joined."""
    result = call(bridge, "execute_code", {"code": code})
    return "\n".join(c.text for c in result.content if c.type == "text")
