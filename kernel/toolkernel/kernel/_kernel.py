"""ToolKernel: an IPython kernel whose namespace holds typed bindings for every tool."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq
from ipykernel.ipkernel import IPythonKernel
from traitlets import Bool, Float, List, Unicode, default

from toolkernel._spec import CHANNEL_ON_CONTROL, INPUT_REFUSED_MARK, PUBLISHED
from toolkernel._version import __version__
from toolkernel.config import toolkernel_settings
from toolkernel.errors import ToolkernelError
from toolkernel.factory import CRATE_REGISTRY_VARIABLE, SANDBOX_BACKEND_VARIABLE
from toolkernel.host._validate import skip_slow_format_checkers
from toolkernel.kernel._approval import ApprovalComms
from toolkernel.kernel._channel import register_channel, serve_channel_on_control
from toolkernel.kernel._magics import ToolMagics
from toolkernel.kernel._progress import CellFrontEnd, LastResortRelay
from toolkernel.kernel._published import PublishedCounter
from toolkernel.kernel._relay import make_relay_factory, make_sample, relay_capabilities
from toolkernel.kernel._tracebacks import install_short_tracebacks
from toolkernel.kernel._transform import OneTransformPerCell
from toolkernel.session._toolbox import Toolbox

__all__ = ["ToolKernel"]


class ToolKernel(IPythonKernel):
    """An IPython kernel that preloads `tools`, discovery functions and `%tools`.

    Its home and mcp.json come from the shared `Toolkernel` options (`c.Toolkernel`).
    Bindings are built from the catalog cache before any server answers; servers
    connect in the background, and a dead or slow one never delays the kernel.
    """

    implementation = "toolkernel"
    implementation_version = __version__
    banner = f"Toolkernel {__version__}: `tools` holds a binding for every tool; try %tools"

    connect_timeout = Float(
        30.0, help="Seconds each MCP server gets to start and answer initialize."
    ).tag(config=True)
    show_progress = Bool(
        True, help="Show a live progress line in the cell while a tool reports progress."
    ).tag(config=True)

    _execute_sleep = Float(
        0.0,
        help="Seconds ipykernel sleeps after each cell, before its reply (its default, "
        "0.0005, works around lost output; here stdout and stderr are flushed, and so "
        "sent, before the reply, so it is not needed).",
    ).tag(config=True)

    toolchain_path = Unicode(
        "",
        help="Where create_tool looks for compilers, PATH-style. Default: $PATH, /usr/bin "
        "and the ziglang package.",
    ).tag(config=True)

    crate_registry = Unicode(
        help="Where Rust builds fetch crates, in a step that has the network and runs no "
        "build script: crates.io, a registry index URL (sparse+https://... or a git "
        "index), or an absolute folder (a local registry with an index/, or a vendored "
        "folder); 'off': only Debian's vendored crates, offline. If a fetch fails, the "
        "vendored crates are tried. Default: $TOOLKERNEL_CRATE_REGISTRY, else crates.io.",
    ).tag(config=True)

    @default("crate_registry")
    def _crate_registry_default(self) -> str:
        return os.environ.get(CRATE_REGISTRY_VARIABLE, "crates.io")

    sandbox_backend = Unicode(
        help="The process sandbox of script tools and compilers: bwrap, firejail, nsjail, "
        "or rlimits (limits without isolation; opt-in only, for hosts where no sandbox can "
        "start, such as Binder). Default: $TOOLKERNEL_SANDBOX_BACKEND, else the first of "
        "bwrap, firejail, nsjail that starts.",
    ).tag(config=True)

    @default("sandbox_backend")
    def _sandbox_backend_default(self) -> str:
        return os.environ.get(SANDBOX_BACKEND_VARIABLE, "")

    tool_folders = List(
        Unicode(),
        help="Tool folders to register at start and hot-reload on every edit: each holds a "
        "tool.json or SKILL.md, or holds such folders (a repo's tools/). Relative paths are "
        "taken from the kernel's working directory. Default: $TOOLKERNEL_TOOL_FOLDERS "
        "(separated by the OS path separator), else none.",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        skip_slow_format_checkers()
        self._published = PublishedCounter(self.session, (self.iopub_socket, self.iopub_thread))
        where = toolkernel_settings(self)  # c.Toolkernel.home and .mcp_config
        self.approvals = ApprovalComms()  # JupyterLab's approval dialogs
        self.approvals.register(self.comm_manager)
        self.toolbox = Toolbox(
            parent=self,  # c.Toolbox.<option> in the kernel's config applies
            home=where.home_path(),
            config_path=where.mcp_config_path(),
            connect_timeout=self.connect_timeout,
            front_end=CellFrontEnd(
                show_progress=self.show_progress,
                relay=make_relay_factory(self, self.approvals),
                logs_to_cell=lambda: relay_capabilities(self) is not None,
            ),
            on_log=self._server_log,
            toolchain_path=self.toolchain_path or None,
            crate_registry=self.crate_registry,
            sandbox_backend=self.sandbox_backend or None,
            tool_folders=[Path(folder) for folder in self.tool_folders or _env_folders()],
        )
        shell = self.shell
        if shell is None:  # pragma: no cover - IPythonKernel always creates one
            msg = "the IPython shell was not created; the kernel cannot preload tools"
            raise RuntimeError(msg)
        preloads = {**self.toolbox.preloads(), "sample": make_sample(self)}
        self.toolbox.skill_scope["sample"] = preloads["sample"]
        shell.user_ns.update(preloads)
        shell.user_ns_hidden.update(preloads)
        shell.register_magics(ToolMagics(shell, self.toolbox))
        _remember_signature(type(shell).run_cell_async)
        self._transforms = OneTransformPerCell(shell.transform_cell)
        shell.transform_cell = self._transforms
        shell.events.register("pre_run_cell", self._transforms.forget)
        self._interrupted = False
        install_short_tracebacks(
            shell,
            ToolkernelError,
            self.toolbox.home / "bindings",
            interrupted=lambda: self._interrupted,
        )
        register_channel(self.comm_manager, self.toolbox, shell.user_ns)
        serve_channel_on_control(self.control_handlers, self.comm_manager)
        # Unhandled log records keep their level through the bridge (as MCP logging).
        logging.lastResort = LastResortRelay(
            logging.lastResort, lambda: relay_capabilities(self) is not None
        )
        self.toolbox.start()

    @property
    def kernel_info(self) -> dict[str, Any]:
        """The kernel_info reply's content, saying that the typed channel is served on control."""
        return {**super().kernel_info, "toolkernel": {CHANNEL_ON_CONTROL: True}}

    async def execute_request(self, stream: Any, ident: Any, parent: Any) -> None:
        """Run a cell and reply; without subshells, the reply leaves at once.

        ipykernel queues the reply on the shell stream and sends it only after it has
        published the `idle` status (about 0.1 ms later).
        """
        await super().execute_request(stream, ident, parent)
        shell_stream = self.shell_stream
        if stream is shell_stream is not None and not self._supports_kernel_subshells:
            shell_stream.flush(zmq.POLLOUT)

    def set_parent(self, ident: Any, parent: Any, channel: str = "shell") -> None:
        """Set the current request; an execute request's IOPub messages are counted."""
        super().set_parent(ident, parent, channel)
        header = parent.get("header") or {}
        if header.get("msg_type") == "execute_request":
            self._published.watch(str(header.get("msg_id")))

    def finish_metadata(self, parent: Any, metadata: Any, reply_content: Any) -> Any:
        """The reply's metadata, with how many IOPub messages the request published."""
        metadata = super().finish_metadata(parent, metadata, reply_content)
        published = self._published.published(str(parent["header"].get("msg_id")))
        if published is not None:
            metadata["toolkernel"] = {PUBLISHED: published}
        return metadata

    @property
    def _supports_kernel_subshells(self) -> bool:
        # Without subshells (`ToolKernelApp.subshells`) the app sets a false stand-in.
        return bool(self.shell_channel_thread)

    async def create_subshell_request(self, socket: Any, ident: Any, parent: Any) -> None:
        """Make a subshell, or say why there are none (ipykernel sends no reply then)."""
        if self._supports_kernel_subshells:
            await super().create_subshell_request(socket, ident, parent)
        else:
            self._refuse_subshells(socket, ident, parent, "create_subshell_reply")

    async def delete_subshell_request(self, socket: Any, ident: Any, parent: Any) -> None:
        """Delete a subshell, or say why there are none."""
        if self._supports_kernel_subshells:
            await super().delete_subshell_request(socket, ident, parent)
        else:
            self._refuse_subshells(socket, ident, parent, "delete_subshell_reply")

    async def list_subshell_request(self, socket: Any, ident: Any, parent: Any) -> None:
        """List the subshells, or say why there are none."""
        if self._supports_kernel_subshells:
            await super().list_subshell_request(socket, ident, parent)
        else:
            self._refuse_subshells(socket, ident, parent, "list_subshell_reply")

    def _refuse_subshells(self, socket: Any, ident: Any, parent: Any, reply_type: str) -> None:
        why = (
            "this kernel was started without subshells (--ToolKernelApp.subshells=False, as "
            "the toolkernel bridge starts its kernels); start one without that option to "
            "use subshells"
        )
        content = {"status": "error", "ename": "SubshellsOff", "evalue": why, "traceback": []}
        if self.session is not None:
            self.session.send(socket, reply_type, content, parent, ident)

    async def do_execute(self, code: str, *args: Any, **kwargs: Any) -> Any:
        """Run a cell once the servers it names have made their first connection attempt.

        Its tool calls are capped by `c.Toolbox.max_tool_calls`, or by the cap the
        request carries (the bridge's `--max-tool-calls`), and recorded in the call
        history with its execution count.
        """
        self._interrupted = False
        with self.toolbox.execution(self.execution_count, self._requested_call_cap()):
            await self.toolbox.wait_for_sources_used_by(code)
            self._transforms.armed = True  # ipykernel's and IPython's transforms: one
            try:
                return await super().do_execute(code, *args, **kwargs)
            finally:
                self._transforms.forget()

    def _requested_call_cap(self) -> int | None:
        """The tool-call cap the running cell's request carries (the bridge's), if any."""
        parent = self.get_parent("shell") or {}
        marks = (parent.get("metadata") or {}).get("toolkernel")
        cap = marks.get("max_tool_calls") if isinstance(marks, dict) else None
        return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0 else None

    def raw_input(self, prompt: str = "") -> str:
        """Ask the front end for a line, as `input()` does.

        Raises:
            EOFError: The MCP client behind the bridge declined or cancelled the
                question, or cannot be asked; the message says which.
        """
        return _unless_refused(super().raw_input(prompt))

    def getpass(self, prompt: str = "", stream: Any = None, **kwargs: Any) -> str:
        """Ask the front end for a password; refusals raise `EOFError` as in `raw_input`."""
        return _unless_refused(super().getpass(prompt, stream, **kwargs))

    def do_shutdown(self, restart: bool) -> Any:
        """Disconnect every server, then shut down as IPython does."""
        self.toolbox.stop()
        return super().do_shutdown(restart)

    @contextmanager
    def _cancel_on_sigint(self, future: asyncio.Future[Any]) -> Iterator[None]:
        """Cancel the running cell on SIGINT (an interrupt), and with it its tool calls.

        ipykernel 7.4 schedules this cancellation through `io_loop.add_callback`, which
        never runs for an awaiting cell, so an interrupt is lost (plain ipykernel
        included). The running asyncio loop is woken directly instead.
        """
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            if not future.done():
                future.cancel()

        def on_sigint(signum: int, frame: object) -> None:
            self._interrupted = True  # the cell's CancelledError then shows as an interrupt
            loop.call_soon_threadsafe(cancel)

        saved = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, saved)

    def _server_log(self, source: str, level: int, text: str) -> None:
        """Log a server's or a registry tool's message, labelled by kind (`[mcp x]`)."""
        host = getattr(getattr(self, "toolbox", None), "host", None)
        kind = host.source_kind(source) if host is not None else "mcp"
        self.log.log(level, "[%s %s] %s", kind, source, text)


def _remember_signature(function: Any) -> None:
    """Store `function`'s signature on it, where `inspect.signature` looks first.

    ipykernel 7.4 asks for the signature of the shell's `run_cell_async` on every cell,
    which `inspect` works out anew each time (about 40 µs).
    """
    if getattr(function, "__signature__", None) is None:
        function.__signature__ = inspect.signature(function)


def _unless_refused(answer: str) -> str:
    if not answer.startswith(INPUT_REFUSED_MARK):
        return answer
    why = answer[len(INPUT_REFUSED_MARK) :]
    if why in ("decline", "cancel"):
        done = "declined" if why == "decline" else "cancelled"
        msg = f"the user {done} the question (elicitation action {why!r}); no answer was given"
    else:
        msg = f"input() cannot be answered here: {why}"
    raise EOFError(msg)


def _env_folders() -> list[str]:
    return [
        part for part in os.environ.get("TOOLKERNEL_TOOL_FOLDERS", "").split(os.pathsep) if part
    ]
