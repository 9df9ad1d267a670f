"""One kernel the bridge drives: execute code one request at a time, stream its output.

Replies are assembled from iopub messages as they arrive and returned the moment the
kernel reports idle; there is no polling tick. While waiting, the kernel's liveness is
checked once a second, so a kernel that dies mid-cell is noticed and restarted.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from toolkernel.bridge._gateway import GatewayKernel, GatewayTarget
from toolkernel.errors import BridgeError

__all__ = ["Execution", "KernelSession", "OutputSink", "StdinRelay"]

OutputSink = Callable[[str, str], Awaitable[None]]
"""Receives output while code runs: (stream name or "display", text)."""


class StdinRelay(Protocol):
    """Answers the kernel's input requests (from `input()` or `sample()`) for one cell."""

    capabilities: frozenset[str]
    """What the client behind the relay can do: `elicitation`, `sampling`."""

    async def answer(self, prompt: str, *, password: bool) -> str:
        """Return the text to send back as the `input_reply`."""


_LIVENESS_CHECK_S = 1.0
_SETTLE_S = 10.0


@dataclass
class Execution:
    """What one `execute` produced.

    Attributes:
        stdout: Text written to stdout.
        stderr: Text written to stderr.
        result: The text/plain of the last expression's value, if any.
        images: `(mime type, base64 data)` of every image shown or returned.
        error: `(name, value, traceback lines)` when the code raised.
        execution_count: The cell's number (`Out[n]` holds its value).
        timed_out: The timeout passed and the kernel was interrupted.
        restarted: The kernel died during the call and was restarted (state lost).
    """

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    images: list[tuple[str, str]] = field(default_factory=list)
    error: tuple[str, str, list[str]] | None = None
    execution_count: int | None = None
    timed_out: bool = False
    restarted: bool = False


class KernelSession:
    """A kernel started by the bridge, or an existing one named by a connection file."""

    def __init__(
        self,
        *,
        kernel_name: str = "toolkernel",
        connection_file: Path | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        gateway: GatewayTarget | None = None,
    ) -> None:
        """Describe the kernel; nothing starts until `start()`.

        Args:
            kernel_name: Kernelspec to start when no connection file is given.
            connection_file: Attach to this running kernel instead of starting one.
            cwd: Working directory of a started kernel.
            env: Environment of a started kernel (default: this process's).
            gateway: Start the kernel on this Jupyter Server or gateway instead (`cwd` and
                `env` are then the server's).
        """
        self.kernel_name = kernel_name
        self.connection_file = connection_file
        self._cwd = cwd
        self._env = env
        self._manager: AsyncKernelManager | None = None
        self._client: AsyncKernelClient | None = None
        self._lock = asyncio.Lock()
        self._sockets_dir: Path | None = None
        self.gateway = gateway
        self._remote: GatewayKernel | None = None

    @property
    def owned(self) -> bool:
        """True when the bridge started this kernel (and so can restart it)."""
        return self.connection_file is None

    async def start(self, timeout: float = 60.0) -> None:
        """Start (or attach to) the kernel and wait until it answers."""
        if self.gateway is not None:
            self._remote = GatewayKernel(self.gateway)
            client = await self._remote.start(timeout)
        elif self.connection_file is not None:
            client = AsyncKernelClient()
            client.load_connection_file(str(self.connection_file))
        else:
            self._sockets_dir = Path(tempfile.mkdtemp(prefix="tk-bridge-"))
            sockets = self._sockets_dir / "kernel"
            manager = AsyncKernelManager(
                kernel_name=self.kernel_name, transport="ipc", ip=str(sockets)
            )
            await manager.start_kernel(
                env=self._env or dict(os.environ), cwd=str(self._cwd or Path.cwd())
            )
            self._manager = manager
            client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=timeout)
        self._client = client

    async def shutdown(self) -> None:
        """Stop the channels, and the kernel if the bridge started it."""
        if self._client is not None:
            self._client.stop_channels()
        if self._manager is not None:
            with contextlib.suppress(Exception):
                await self._manager.shutdown_kernel(now=False)
        if self._remote is not None:
            await self._remote.shutdown()
        if self._sockets_dir is not None:
            shutil.rmtree(self._sockets_dir, ignore_errors=True)

    async def execute(
        self,
        code: str,
        *,
        timeout: float | None,
        on_output: OutputSink | None = None,
        relay: StdinRelay | None = None,
    ) -> Execution:
        """Run `code` as a cell, one request at a time, and return what it produced.

        A timeout interrupts the kernel, which stays usable. Cancelling the awaiting task
        interrupts the kernel too. A kernel that dies is restarted when the bridge owns it.
        With a `relay`, the cell may ask for input (`input()`, `sample()`): the relay
        answers, and the execute request tells the kernel what the relay can do.
        """
        async with self._lock:
            msg_id = self._send_execute(code, relay)
            out = Execution()
            asks = relay is not None and bool(relay.capabilities)
            stdin = asyncio.create_task(self._serve_stdin(relay)) if asks else None
            try:
                async with asyncio.timeout(timeout):
                    await self._collect(msg_id, out, on_output)
                await self._reply(msg_id, _SETTLE_S)  # keep the shell channel drained
            except TimeoutError:
                out.timed_out = True
                await self._interrupt_and_settle(msg_id, out)
            except asyncio.CancelledError:
                # Settle before the lock is released, or the next cell's output would be
                # read (and dropped) by a cleanup still running in the background.
                with anyio.CancelScope(shield=True):
                    await self._interrupt_and_settle(msg_id, out)
                raise
            except _KernelDied:
                await self._restart()
                out.restarted = True
            finally:
                if stdin is not None:
                    stdin.cancel()
            return out

    def _send_execute(self, code: str, relay: StdinRelay | None) -> str:
        client = self._require_client()
        capabilities = sorted(relay.capabilities) if relay else []
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": bool(capabilities),
            "stop_on_error": True,
        }
        metadata = {"toolkernel": {"relay": capabilities}}
        msg = client.session.msg("execute_request", content, metadata=metadata)
        client.shell_channel.send(msg)
        msg_id: str = msg["header"]["msg_id"]
        return msg_id

    async def _serve_stdin(self, relay: StdinRelay | None) -> None:
        client = self._require_client()
        while relay is not None:
            msg = await client.get_stdin_msg()
            if msg["msg_type"] != "input_request":
                continue
            content = msg["content"]
            try:
                value = await relay.answer(
                    content.get("prompt", ""), password=bool(content.get("password"))
                )
            except Exception as exc:
                value = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            client.input(value)

    async def evaluate(self, expression: str, timeout: float = 30.0) -> str:
        """Evaluate an expression silently (no output, no history); return its `str` value.

        Raises:
            BridgeError: The expression failed, or the kernel did not answer in time.
        """
        async with self._lock:
            client = self._require_client()
            msg_id = client.execute(
                "", silent=True, store_history=False, user_expressions={"value": expression}
            )
            reply = await self._reply(msg_id, timeout)
        value = reply["content"].get("user_expressions", {}).get("value", {})
        if value.get("status") != "ok":
            msg = f"{value.get('ename', 'Error')}: {value.get('evalue', 'no value')}"
            raise BridgeError(msg)
        text = value["data"]["text/plain"]
        return str(ast.literal_eval(text))

    async def run_and_evaluate(self, code: str, expression: str, timeout: float) -> str:
        """Run `code` silently (top-level await allowed), then return `str(expression)`.

        Raises:
            BridgeError: The code or the expression failed, or the kernel did not answer.
        """
        async with self._lock:
            client = self._require_client()
            msg_id = client.execute(
                code, silent=True, store_history=False, user_expressions={"value": expression}
            )
            reply = await self._reply(msg_id, timeout)
        content = reply["content"]
        if content.get("status") != "ok":
            msg = f"{content.get('ename')}: {content.get('evalue')}"
            raise BridgeError(msg)
        value = content.get("user_expressions", {}).get("value", {})
        if value.get("status") != "ok":
            msg = f"{value.get('ename', 'Error')}: {value.get('evalue', 'no value')}"
            raise BridgeError(msg)
        return str(ast.literal_eval(value["data"]["text/plain"]))

    async def run_silent(self, code: str, timeout: float = 30.0) -> None:
        """Run `code` without output or history (used to keep values in the kernel)."""
        async with self._lock:
            client = self._require_client()
            msg_id = client.execute(code, silent=True, store_history=False)
            reply = await self._reply(msg_id, timeout)
        if reply["content"].get("status") != "ok":
            msg = f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}"
            raise BridgeError(msg)

    async def evaluate_json(self, expression: str) -> Any:
        """Evaluate `json.dumps(<expression>)` in the kernel and return the decoded value."""
        return json.loads(await self.evaluate(f"__import__('json').dumps({expression})"))

    async def interrupt(self) -> None:
        """Interrupt the running cell (a signal when owned, else an interrupt_request)."""
        if self._manager is not None:
            await self._manager.interrupt_kernel()
            return
        if self._remote is not None:
            await self._remote.interrupt()
            return
        client = self._require_client()
        client.control_channel.send(client.session.msg("interrupt_request", {}))

    def _require_client(self) -> AsyncKernelClient:
        if self._client is None:
            msg = "the bridge's kernel is not started"
            raise BridgeError(msg)
        return self._client

    async def _collect(self, msg_id: str, out: Execution, on_output: OutputSink | None) -> None:
        client = self._require_client()
        while True:
            try:
                msg = await client.get_iopub_msg(timeout=_LIVENESS_CHECK_S)
            except Exception:
                if not await self._alive():
                    raise _KernelDied from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if await _absorb(msg, out, on_output):
                return

    async def _interrupt_and_settle(self, msg_id: str, out: Execution) -> None:
        await self.interrupt()
        with contextlib.suppress(TimeoutError, _KernelDied):
            async with asyncio.timeout(_SETTLE_S):
                await self._collect(msg_id, out, None)

    async def _reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        client = self._require_client()
        async with asyncio.timeout(timeout):
            while True:
                reply: dict[str, Any] = await client.get_shell_msg()
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply

    async def _alive(self) -> bool:
        if self._manager is not None:
            return bool(await self._manager.is_alive())
        return bool(await self._require_client().is_alive())

    async def _restart(self) -> None:
        if self._remote is not None:
            await self._remote.restart()
            await self._require_client().wait_for_ready(timeout=60)
            return
        if self._manager is None:
            msg = (
                "the kernel died, and it was not started by the bridge, so it cannot be "
                "restarted from here: restart it in JupyterLab, then retry"
            )
            raise BridgeError(msg)
        await self._manager.restart_kernel(now=True)
        await self._require_client().wait_for_ready(timeout=60)


class _KernelDied(Exception):
    """The kernel process is gone."""


async def _absorb(msg: dict[str, Any], out: Execution, on_output: OutputSink | None) -> bool:
    """Fold one iopub message into `out`; return True when the cell is done (idle)."""
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        text = content.get("text", "")
        if content.get("name") == "stderr":
            out.stderr += text
        else:
            out.stdout += text
        if on_output is not None:
            await on_output(content.get("name", "stdout"), text)
    elif kind in ("execute_result", "display_data"):
        data = content.get("data", {})
        images = [(mime, data[mime]) for mime in ("image/png", "image/jpeg") if mime in data]
        out.images.extend(images)
        if kind == "execute_result":
            out.execution_count = content.get("execution_count")
            out.result = data.get("text/plain") if not images else None
        elif not images and "text/plain" in data:
            out.stdout += data["text/plain"] + "\n"
        if on_output is not None and not images and "text/plain" in data:
            await on_output("display", data["text/plain"])
    elif kind == "error":
        out.error = (content.get("ename", ""), content.get("evalue", ""), content["traceback"])
    elif kind == "execute_input":
        out.execution_count = content.get("execution_count")
    return bool(kind == "status" and content.get("execution_state") == "idle")
