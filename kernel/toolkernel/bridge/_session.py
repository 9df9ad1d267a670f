"""One kernel the bridge drives: cells one at a time, and the typed channel beside them.

Two pumps read the kernel's iopub and shell channels and hand each message to whoever
waits for it (by parent message id), or to the channel (`ChannelClient`, its comm's
messages). So a cell's output is assembled as it arrives and returned the moment the
kernel reports idle, while channel requests (discovery, exposed calls, versions) are
answered at the same time, on a kernel subshell when the kernel has them. While
waiting, the kernel's liveness is checked once a second, so a kernel that dies is
noticed and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from toolkernel._spec import (
    CHANNEL_ON_CONTROL,
    LOG_MIME,
    PROGRESS_MIME,
    PUBLISHED,
    ClientRelay,
    JSONObject,
)
from toolkernel.bridge._channel import ChannelClient, Progress
from toolkernel.bridge._gateway import GatewayKernel, GatewayTarget
from toolkernel.bridge._wire import receiver
from toolkernel.errors import BridgeError

__all__ = [
    "BRIDGE_KERNEL_ARGUMENTS",
    "CellEvents",
    "Execution",
    "KernelSession",
    "StdinRelay",
    "bridge_kernel_arguments",
]

log = logging.getLogger("toolkernel.bridge")


class CellEvents(Protocol):
    """Receives what a running cell produces, as it arrives (each kind once)."""

    async def output(self, name: str, text: str) -> None:
        """A piece of output text, from `name`: `stdout`, `stderr` or `display`.

        `display` is a shown value's text/plain. The last expression's value is not
        streamed: it is in the `Execution`.
        """

    async def progress(self, update: JSONObject) -> None:
        """A tool call's progress display changed.

        `update` is `{"label", "progress", "total", "message"}` (`PROGRESS_MIME`).
        """

    async def log(self, level: str, logger: str, text: str) -> None:
        """A tool's log message, at its MCP logging level (`LOG_MIME`)."""


class StdinRelay(Protocol):
    """Answers the kernel's input requests (from `input()` or `sample()`) for one cell."""

    capabilities: frozenset[str]
    """What the client behind the relay can do: `elicitation`, `sampling`."""

    async def answer(self, prompt: str, *, password: bool) -> str:
        """Return the text to send back as the `input_reply`."""


_LIVENESS_CHECK_S = 1.0
_STDERR_FD = 2
_SETTLE_S = 10.0
_SUBSHELL_WAIT_S = 10.0
_RESTART_WAIT_S = 60.0
# Channel methods that change nothing, so a kernel that died under them is asked again.
_RETRIED = frozenset(
    {"session/ready", "tools/names", "tools/search", "tools/details", "tools/catalog"}
    | {"tools/versions", "tools/diff", "tools/history"}
)
_RESTARTED = "the kernel restarted (its state is gone); retry the request"


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
        max_tool_calls: int = 0,
    ) -> None:
        """Describe the kernel; nothing starts until `start()`.

        Args:
            kernel_name: Kernelspec to start when no connection file is given.
            connection_file: Attach to this running kernel instead of starting one.
            cwd: Working directory of a started kernel.
            env: Environment of a started kernel (default: this process's).
            gateway: Start the kernel on this Jupyter Server or gateway instead (`cwd` and
                `env` are then the server's).
            max_tool_calls: The most tool calls each cell may make, sent with the cell;
                0 sends none, so the kernel's own `c.Toolbox.max_tool_calls` applies.
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
        self.max_tool_calls = max_tool_calls
        self._remote: GatewayKernel | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._iopub_routes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._shell_routes: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.channel = ChannelClient(self._send_shell)
        """The typed channel to the kernel's session (reopened after a restart)."""
        self._unreported_restart = False

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
            # The kernel's stdout is the bridge's stderr: over stdio, the bridge's stdout
            # is the MCP wire, and ipykernel copies what a cell's subprocess writes to
            # the stdout it was started with.
            await manager.start_kernel(
                env=self._env or dict(os.environ),
                cwd=str(self._cwd or Path.cwd()),
                extra_arguments=bridge_kernel_arguments(manager.kernel_spec),
                stdout=_STDERR_FD,
            )
            self._manager = manager
            client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=timeout)
        except RuntimeError as exc:  # it died, or never answered
            client.stop_channels()
            raise BridgeError(await self._not_started(exc)) from exc
        self._client = client
        self._pumps = [
            asyncio.create_task(self._pump_iopub(client)),
            asyncio.create_task(self._pump_shell(client)),
        ]
        await self._open_channel()

    async def _not_started(self, exc: RuntimeError) -> str:
        """Why the kernel did not start, for the caller: its exit status when it died."""
        provisioner = self._manager.provisioner if self._manager is not None else None
        status = await provisioner.poll() if provisioner is not None else None
        if status is None:
            return f"the {self.kernel_name!r} kernel did not answer: {exc}"
        return (
            f"the {self.kernel_name!r} kernel exited with status {status} before it "
            "answered; its own error is in the bridge's stderr, and `jupyter kernelspec "
            f"list` shows where the {self.kernel_name!r} kernelspec is"
        )

    async def shutdown(self) -> None:
        """Close the channel, stop the pumps, then the kernel if the bridge started it."""
        self.channel.close("the bridge is shutting down")
        if self._client is not None and not self.owned:
            self._leave_kernel(self._client)
        for pump in self._pumps:
            pump.cancel()
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
        events: CellEvents | None = None,
        relay: StdinRelay | None = None,
    ) -> Execution:
        """Run `code` as a cell, one request at a time, and return what it produced.

        `events` receives output, progress and log messages while the cell runs. A
        timeout interrupts the kernel, which stays usable. Cancelling the awaiting task
        interrupts the kernel too. A kernel that dies is restarted when the bridge owns it.
        With a `relay`, the cell may ask for input (`input()`, `sample()`): the relay
        answers, and the execute request tells the kernel what the relay can do.
        """
        async with self._lock:
            restarted, self._unreported_restart = self._unreported_restart, False
            msg_id = self._send_execute(code, relay)
            self._iopub_routes[msg_id] = asyncio.Queue()
            reply = self._expect_reply(msg_id)
            out = Execution(restarted=restarted)  # a restart since the last cell lost state
            asks = relay is not None and bool(relay.capabilities)
            stdin = asyncio.create_task(self._serve_stdin(relay)) if asks else None
            try:
                async with asyncio.timeout(timeout):
                    await self._collect(msg_id, out, events)
                await self._reply(reply, _SETTLE_S)  # the cell is over once it replied
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
                self._iopub_routes.pop(msg_id, None)
                self._shell_routes.pop(msg_id, None)
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
        marks: dict[str, Any] = {"relay": capabilities}
        if self.max_tool_calls > 0:
            marks["max_tool_calls"] = self.max_tool_calls
        metadata = {"toolkernel": marks}
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

    async def request(
        self,
        method: str,
        params: JSONObject | None = None,
        *,
        timeout: float = 60.0,
        on_progress: Progress | None = None,
        relay: ClientRelay | None = None,
    ) -> Any:
        """Ask the kernel's session over the typed channel; see `CHANNEL_METHODS`.

        Runs beside any cell. A kernel found dead first is restarted, and the request
        goes to the new one; one that dies meanwhile is restarted and the request fails,
        saying so. Either way the next cell's reply says the state was lost.

        Raises:
            ChannelError: The method raised in the kernel (its text, its type's name).
            BridgeError: No answer within `timeout` seconds, the kernel died, or it is
                not a Toolkernel kernel.
        """
        if not await self._alive():
            await self._recover()
        params = params or {}
        answered, result = await self._ask(method, params, timeout, on_progress, relay)
        if answered:
            return result
        await self._recover()
        if method in _RETRIED:  # it changes nothing: ask the new kernel
            answered, result = await self._ask(method, params, timeout, on_progress, relay)
            if answered:
                return result
        msg = f"the kernel died during {method}; it was restarted, so its state is gone"
        raise BridgeError(msg)

    async def _ask(
        self,
        method: str,
        params: JSONObject,
        timeout: float,
        on_progress: Progress | None,
        relay: ClientRelay | None,
    ) -> tuple[bool, Any]:
        """(True, result), or (False, None) when the kernel died before it answered."""
        task = asyncio.ensure_future(
            self.channel.request(method, params, on_progress=on_progress, relay=relay)
        )
        try:
            async with asyncio.timeout(timeout):
                while True:
                    done, _ = await asyncio.wait({task}, timeout=_LIVENESS_CHECK_S)
                    if done:
                        return True, task.result()
                    if not await self._alive():
                        return False, None
        except TimeoutError:
            msg = f"the kernel did not answer {method} within {timeout:g} s"
            raise BridgeError(msg) from None
        finally:
            task.cancel()

    async def _recover(self) -> None:
        """Restart a dead kernel (once, whoever notices first); the next cell is told."""
        async with self._lock:
            if not await self._alive():
                await self._restart()
                self._unreported_restart = True

    async def is_alive(self) -> bool:
        """True while the kernel process (or the gateway's kernel) is running."""
        with contextlib.suppress(BridgeError):
            return await self._alive()
        return False

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

    async def _collect(self, msg_id: str, out: Execution, events: CellEvents | None) -> None:
        """Absorb the cell's iopub messages until it is over.

        It is over at its `idle` status, or as soon as its reply has come and as many
        iopub messages as the reply says the kernel published (a Toolkernel kernel's
        `PUBLISHED` count), which saves waiting for `idle` (it comes after the reply,
        through the kernel's IOPub thread). The shell pump puts the reply in the queue.
        """
        queue = self._iopub_routes[msg_id]
        seen, published = 0, None
        while True:
            try:
                async with asyncio.timeout(_LIVENESS_CHECK_S):
                    msg = await queue.get()
            except TimeoutError:
                if not await self._alive():
                    raise _KernelDied from None
                continue
            if msg["msg_type"] == "execute_reply":
                published = _published(msg)
            else:
                seen += 1
                if await _absorb(msg, out, events):
                    return
            if published is not None and seen >= published:
                return

    async def _interrupt_and_settle(self, msg_id: str, out: Execution) -> None:
        await self.interrupt()
        with contextlib.suppress(TimeoutError, _KernelDied):
            async with asyncio.timeout(_SETTLE_S):
                await self._collect(msg_id, out, None)

    def _expect_reply(self, msg_id: str) -> asyncio.Future[dict[str, Any]]:
        """Register for the shell reply to `msg_id` (before anything awaits)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._shell_routes[msg_id] = future
        return future

    async def _reply(self, future: asyncio.Future[dict[str, Any]], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.shield(future)

    async def _pump_iopub(self, client: AsyncKernelClient) -> None:
        """Hand every iopub message to the cell or the channel waiting for it."""
        receive = receiver(client.iopub_channel)
        while True:
            msg = await receive()
            if msg is None:
                continue
            queue = self._iopub_routes.get(msg["parent_header"].get("msg_id", ""))
            if self.channel.receive(msg):
                msg = _COUNTED  # the cell's collector counts it all the same
            if queue is not None:
                queue.put_nowait(msg)

    async def _pump_shell(self, client: AsyncKernelClient) -> None:
        """Hand every shell reply to whoever registered for it (`_expect_reply`)."""
        receive = receiver(client.shell_channel)
        while True:
            msg = await receive()
            if msg is None:
                continue
            parent_id = msg["parent_header"].get("msg_id", "")
            future = self._shell_routes.pop(parent_id, None)
            if future is not None and not future.done():
                future.set_result(msg)
            queue = self._iopub_routes.get(parent_id)
            if queue is not None and msg["msg_type"] == "execute_reply":
                queue.put_nowait(msg)  # the cell's collector may end on it (`_collect`)

    def _send_shell(self, msg_type: str, content: JSONObject, subshell_id: str | None) -> None:
        client = self._require_client()
        msg = client.session.msg(msg_type, content)
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        client.shell_channel.send(msg)

    def _send_control(self, msg_type: str, content: JSONObject, _: str | None) -> None:
        client = self._require_client()
        client.control_channel.send(client.session.msg(msg_type, content))

    async def _open_channel(self) -> None:
        """Open the typed channel where the kernel answers it while a cell runs.

        That is a subshell of its own when the kernel has them; else the control
        channel, when the kernel serves the channel there (a Toolkernel kernel without
        subshells, as the bridge starts them); else the main shell, which waits for cells.
        """
        self.channel.close(_RESTARTED)
        features, on_control = await self._kernel_info()
        subshell = await self._new_subshell() if "kernel subshells" in features else None
        if subshell is None and on_control:
            self.channel = ChannelClient(self._send_control)
            self.channel.open(None)
            return
        self.channel = ChannelClient(self._send_shell)
        self.channel.open(subshell)

    async def _kernel_info(self) -> tuple[list[str], bool]:
        """The kernel's supported features, and whether it serves the channel on control."""
        client = self._require_client()
        info = self._expect_reply(client.kernel_info())
        try:
            async with asyncio.timeout(_SUBSHELL_WAIT_S):
                content = (await info)["content"]
        except TimeoutError:
            return [], False
        marks = content.get("toolkernel")
        on_control = isinstance(marks, dict) and marks.get(CHANNEL_ON_CONTROL) is True
        return list(content.get("supported_features") or []), on_control

    async def _new_subshell(self) -> str | None:
        """A new kernel subshell's id, or None when none was made in time."""
        client = self._require_client()
        try:
            async with asyncio.timeout(_SUBSHELL_WAIT_S):
                request = client.session.msg("create_subshell_request", {})
                client.control_channel.send(request)
                while True:
                    reply = await client.get_control_msg()
                    if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                        break
        except TimeoutError:
            return None
        content = reply["content"]
        return str(content["subshell_id"]) if content.get("status") == "ok" else None

    async def _ready_again(self, timeout: float) -> None:
        """Wait until a restarted kernel answers on iopub, not only on shell.

        The pumps read every reply, so jupyter_client's own `wait_for_ready` would never
        see its answer. And a reconnecting iopub subscription drops what is published
        before it joins, so a cell run too early would never be seen to finish: this
        asks `kernel_info` once a second until the kernel's status for one of them
        arrives on iopub.

        Raises:
            BridgeError: It did not answer within `timeout` seconds.
        """
        client = self._require_client()
        heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        asked: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    asked.append(client.kernel_info())
                    self._iopub_routes[asked[-1]] = heard
                    self._expect_reply(asked[-1])
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_LIVENESS_CHECK_S):
                            await heard.get()
                            return
        except TimeoutError:
            msg = f"the restarted kernel did not answer within {timeout:g} s; restart the bridge"
            raise BridgeError(msg) from None
        finally:
            for msg_id in asked:
                self._shell_routes.pop(msg_id, None)
                self._iopub_routes.pop(msg_id, None)

    def _leave_kernel(self, client: AsyncKernelClient) -> None:
        """In a kernel the bridge does not own: close the comm and delete the subshell."""
        with contextlib.suppress(Exception):
            comm = self.channel
            comm.close_comm()
            if comm.subshell_id is not None:
                content = {"subshell_id": comm.subshell_id}
                client.control_channel.send(client.session.msg("delete_subshell_request", content))

    async def _alive(self) -> bool:
        if self._manager is not None:
            return bool(await self._manager.is_alive())
        return bool(await self._require_client().is_alive())

    async def _restart(self) -> None:
        self.channel.close(_RESTARTED)
        await self._restart_kernel()
        await self._open_channel()

    async def _restart_kernel(self) -> None:
        if self._remote is not None:
            await self._restart_remote(self._remote)
            return
        if self._manager is None:
            msg = (
                "the kernel died, and it was not started by the bridge, so it cannot be "
                "restarted from here: restart it in JupyterLab, then retry"
            )
            raise BridgeError(msg)
        await self._manager.restart_kernel(now=True)
        await self._ready_again(_RESTART_WAIT_S)

    async def _restart_remote(self, remote: GatewayKernel) -> None:
        """Restart a gateway's kernel; one whose restart never answers is replaced.

        A restarted kernel can come back mute (its process up, its shell never
        answering, or its websocket never opening). The gateway will not restart it
        again, so the bridge deletes it and starts a new kernel in its place; the state
        was lost either way.
        """
        try:
            await remote.restart()
            await self._ready_again(_RESTART_WAIT_S)
        except BridgeError as exc:
            log.warning(
                "kernel %s on %s did not come back after its restart (%s): starting a new one",
                remote.kernel_id,
                remote.target.url,
                exc,
            )
        else:
            return
        await remote.replace()
        try:
            await self._ready_again(_RESTART_WAIT_S)
        except BridgeError:
            msg = (
                f"the kernel on the gateway at {remote.target.url} did not answer after "
                f"its restart, nor did the new kernel started in its place, within "
                f"{_RESTART_WAIT_S:g} s: check the gateway and its log, then retry"
            )
            raise BridgeError(msg) from None


BRIDGE_KERNEL_ARGUMENTS = ("--HistoryManager.hist_file=:memory:", "--ToolKernelApp.subshells=False")
"""What a Toolkernel kernel the bridge starts is told on its command line.

- Its input history stays in memory (`In`, `_i`, `%history` of this session still work):
  an agent's cells do not belong in the person's IPython history, and the history's
  SQLite thread cost about 0.7 ms of every `execute_code`.
- It has no subshells: its main thread reads the shell channel itself, which saves two
  thread hops (about 0.5 ms) per cell. The typed channel goes to its control channel.
"""


def bridge_kernel_arguments(spec: KernelSpec | None) -> list[str]:
    """`BRIDGE_KERNEL_ARGUMENTS` for a kernelspec of the Toolkernel kernel, else none.

    The sandboxed kernel's launcher passes them on (`--kernel-option`). Other kernels
    may not take IPython options. An option the kernelspec already sets is left to it
    (traitlets refuses an option given twice, and the person's choice wins).
    """
    argv = spec.argv if spec is not None else []
    if "toolkernel.launcher" in argv:
        form = "{}"
    elif "toolkernel.sandboxed" in argv:
        form = "--kernel-option={}"
    else:
        return []
    given = {_option_name(arg.removeprefix("--kernel-option=")) for arg in argv}
    return [
        form.format(option)
        for option in BRIDGE_KERNEL_ARGUMENTS
        if _option_name(option) not in given
    ]


def _option_name(argument: str) -> str:
    """`--Class.name` of a `--Class.name=value` argument."""
    return argument.split("=", 1)[0]


_COUNTED: dict[str, Any] = {"msg_type": "toolkernel.counted", "content": {}}
"""Stands in a cell's queue for one of its iopub messages that the channel took."""


def _published(reply: dict[str, Any]) -> int | None:
    """The reply's count of iopub messages published for its request; None if absent."""
    marks = (reply.get("metadata") or {}).get("toolkernel")
    count = marks.get(PUBLISHED) if isinstance(marks, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


class _KernelDied(Exception):
    """The kernel process is gone."""


async def _absorb(msg: dict[str, Any], out: Execution, events: CellEvents | None) -> bool:
    """Fold one iopub message into `out`; return True when the cell is done (idle).

    A progress display (and its updates) and a tool's log message go to `events` only,
    never into the reply's text: a progress bar is stale by the time the reply is read.
    An image shown twice (a figure that is the last value, and shown again by the
    inline backend at the cell's end) is kept once.
    """
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        text = content.get("text", "")
        if content.get("name") == "stderr":
            out.stderr += text
        else:
            out.stdout += text
        if events is not None:
            await events.output(content.get("name", "stdout"), text)
    elif kind in ("execute_result", "display_data", "update_display_data"):
        await _absorb_data(kind, content, out, events)
    elif kind == "error":
        out.error = (content.get("ename", ""), content.get("evalue", ""), content["traceback"])
    elif kind == "execute_input":
        out.execution_count = content.get("execution_count")
    return bool(kind == "status" and content.get("execution_state") == "idle")


async def _absorb_data(
    kind: str, content: dict[str, Any], out: Execution, events: CellEvents | None
) -> None:
    """Fold a value, a display or a display's update into `out` (see `_absorb`)."""
    data = content.get("data") or {}
    if PROGRESS_MIME in data:
        if events is not None and isinstance(data[PROGRESS_MIME], dict):
            await events.progress(data[PROGRESS_MIME])
        return
    if kind == "update_display_data":
        return
    if LOG_MIME in data:
        record = data[LOG_MIME] if isinstance(data[LOG_MIME], dict) else {}
        text = str(data.get("text/plain", record.get("text", "")))
        out.stderr += text + "\n"
        if events is not None:
            level, logger = str(record.get("level", "info")), str(record.get("logger", ""))
            await events.log(level, logger, str(record.get("text", text)))
        return
    images = [(mime, data[mime]) for mime in ("image/png", "image/jpeg") if mime in data]
    out.images.extend(image for image in images if image not in out.images)
    if kind == "execute_result":
        out.execution_count = content.get("execution_count")
        out.result = data.get("text/plain") if not images else None
    elif not images and "text/plain" in data:
        out.stdout += data["text/plain"] + "\n"
        if events is not None:
            await events.output("display", data["text/plain"])
