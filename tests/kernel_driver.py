"""Drive a real Toolkernel kernel through jupyter_client, with bounded waits."""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class Execution:
    """What one execute_request produced on iopub, plus its reply."""

    status: str = ""
    stdout: str = ""
    stderr: str = ""
    result: dict[str, Any] | None = None
    displays: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The text/plain of the execute_result, or ''."""
        return (self.result or {}).get("text/plain", "")

    @property
    def traceback(self) -> str:
        return "\n".join((self.error or {}).get("traceback", []))


class KernelDriver:
    """A started kernel plus a blocking client."""

    def __init__(
        self,
        *,
        home: Path,
        config: Path | None,
        cwd: Path,
        extra_env: dict[str, str] | None = None,
        **launch: Any,
    ) -> None:
        env = dict(os.environ)
        env["TOOLKERNEL_HOME"] = str(home)
        env.pop("TOOLKERNEL_MCP_CONFIG", None)
        if config is not None:
            env["TOOLKERNEL_MCP_CONFIG"] = str(config)
        env.update(extra_env or {})
        # IPC socket paths are relative to the client's cwd unless absolute, and the kernel
        # runs in another cwd; sockets also need a short path (about 100 bytes at most).
        self.sockets_dir = Path(tempfile.mkdtemp(prefix="tk-ipc-"))
        sockets = self.sockets_dir / "kernel"
        self.manager = KernelManager(kernel_name="toolkernel", transport="ipc", ip=str(sockets))
        self.manager.start_kernel(env=env, cwd=str(cwd), **launch)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.prompts: list[str] = []
        self._answers: list[str] | None = None

    def execute(
        self,
        code: str,
        timeout: float = 60.0,
        *,
        allow_error: bool = False,
        answers: list[str] | None = None,
    ) -> Execution:
        """Run `code`; with `answers`, reply to its input requests in order (prompts kept)."""
        msg_id = self.client.execute(code, store_history=False, allow_stdin=answers is not None)
        self.prompts = []
        self._answers = list(answers) if answers is not None else None
        out = self._collect(msg_id, timeout)
        if out.error and not allow_error:
            msg = f"cell failed:\n{code}\n{out.traceback}"
            raise AssertionError(msg)
        return out

    def value(self, expression: str, timeout: float = 60.0) -> Any:
        """Evaluate an expression in the kernel and return it, JSON round-tripped."""
        out = self.execute(f"import json as _j; print(_j.dumps({expression}))", timeout)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def _collect(self, msg_id: str, timeout: float) -> Execution:
        out = Execution()
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"no idle from the kernel within {timeout} s"
                raise TimeoutError(msg)
            self._answer_stdin()
            wait = remaining if self._answers is None else min(remaining, 0.05)
            try:
                msg = self.client.get_iopub_msg(timeout=wait)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    out.stdout += content["text"]
                else:
                    out.stderr += content["text"]
            elif kind == "execute_result":
                out.result = content["data"]
            elif kind == "display_data":
                out.displays.append(content)
            elif kind == "update_display_data":
                out.updates.append(content)
            elif kind == "error":
                out.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        out.status = self.reply_to(msg_id, max(1.0, deadline - time.monotonic()))["content"][
            "status"
        ]
        return out

    def _answer_stdin(self) -> None:
        if self._answers is None:
            return
        try:
            request = self.client.get_stdin_msg(timeout=0)
        except queue.Empty:
            return
        self.prompts.append(request["content"]["prompt"])
        self.client.input(self._answers.pop(0) if self._answers else "")

    def reply_to(self, msg_id: str, timeout: float) -> dict[str, Any]:
        """Return the shell reply to `msg_id`, skipping stale replies (kernel_info, ...)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"no reply to {msg_id} within {timeout} s"
                raise TimeoutError(msg)
            reply: dict[str, Any] = self.client.get_shell_msg(timeout=remaining)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def control_reply(self, msg_type: str, content: dict[str, Any], timeout: float) -> Any:
        """Send one control request and return its reply (other control replies skipped)."""
        request = self.client.session.msg(msg_type, content)
        self.client.control_channel.send(request)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.client.get_control_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                return reply

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False, restart=False)
        shutil.rmtree(self.sockets_dir, ignore_errors=True)
