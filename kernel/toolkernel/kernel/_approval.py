"""Approval requests shown by JupyterLab: a dialog instead of an input prompt.

The toolkernel labextension opens a comm to the target `toolkernel.approval` on each
toolkernel kernel it connects to (JupyterLab sends comm messages on a kernel subshell,
so they are handled while a cell waits). Each comm message is a JSON object with a
`type`:

- kernel to JupyterLab: `request` (`id`, `tool`, `server`, `reason`, `arguments`: plain
  text, never markup; `timeout_s`: seconds) asks; `done` (`id`) closes the
  dialog of a request answered elsewhere, timed out or abandoned (the cell stopped);
- JupyterLab to kernel: `shown` (`id`) says a dialog is up; `answer` (`id`, `answer`:
  `allow`, `session` or `deny`) is the person's choice.

A request goes to every open comm (two tabs on one kernel both show it); the first
answer wins. The kernel sends in the context of the comm's opening (not the cell's), so
ipykernel routes JupyterLab's replies to the subshell the comm was opened on, which
answers while the cell's shell waits. When no comm is open (the classic notebook, nbclient, a plain
jupyter_client), or none says `shown` within `SHOWN_WAIT_S` (a tab that was closed
without closing its comm), `ask` returns None and the caller asks with an input prompt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import itertools
import logging
import threading
from typing import Any

from toolkernel._spec import JSONObject
from toolkernel.host import APPROVAL_META

__all__ = ["APPROVAL_TARGET", "SHOWN_WAIT_S", "ApprovalComms", "approval_about"]

log = logging.getLogger("toolkernel.kernel")

APPROVAL_TARGET = "toolkernel.approval"
"""The comm target JupyterLab opens to show approval requests as dialogs."""

SHOWN_WAIT_S = 10.0
"""Seconds a request waits for a dialog to show before the input prompt asks instead."""

_ANSWERS = ("allow", "session", "deny")
_GRACE_S = 5.0
"""Beyond the request's own timeout, so the policy's timeout (a clearer error) wins."""


def approval_about(params: JSONObject) -> JSONObject | None:
    """What an approval request asks about (its `_meta` entry), or None for any other."""
    meta = params.get("_meta")
    about = meta.get(APPROVAL_META) if isinstance(meta, dict) else None
    return about if isinstance(about, dict) else None


class ApprovalComms:
    """The open `toolkernel.approval` comms of one kernel, and the requests they answer."""

    def __init__(self) -> None:
        self._comms: dict[str, tuple[Any, contextvars.Context]] = {}
        self._shown: dict[str, concurrent.futures.Future[None]] = {}
        self._answers: dict[str, concurrent.futures.Future[str]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def register(self, comm_manager: Any) -> None:
        """Accept the comms JupyterLab opens to `APPROVAL_TARGET`."""
        comm_manager.register_target(APPROVAL_TARGET, self._open)

    @property
    def listening(self) -> bool:
        """Whether a JupyterLab frontend has a comm open to show requests."""
        with self._lock:
            return bool(self._comms)

    async def ask(self, about: JSONObject) -> JSONObject | None:
        """Show approval request `about` in JupyterLab; return the elicitation result.

        Args:
            about: The request's `_meta` entry (`tool`, `server`, `reason`, ...).

        Returns:
            `{"action": "accept", "content": {"answer": ...}}`, or None when no dialog
            showed within `SHOWN_WAIT_S` (the caller then asks another way).

        Raises:
            TimeoutError: Nobody answered within the request's timeout (plus a grace).
        """
        request_id = f"a{next(self._ids)}"
        shown: concurrent.futures.Future[None] = concurrent.futures.Future()
        answer: concurrent.futures.Future[str] = concurrent.futures.Future()
        with self._lock:
            self._shown[request_id] = shown
            self._answers[request_id] = answer
            comms = list(self._comms.values())
        timeout = float(about.get("timeout_s") or 120.0) + _GRACE_S
        try:
            request = {"type": "request", "id": request_id, **_plain(about)}
            for comm, context in comms:
                context.copy().run(comm.send, request)
            try:
                await asyncio.wait_for(asyncio.wrap_future(shown), SHOWN_WAIT_S)
            except TimeoutError:
                log.warning("no JupyterLab dialog showed approval %s; asking at a prompt", about)
                return None
            choice = await asyncio.wait_for(asyncio.wrap_future(answer), timeout)
        finally:
            with self._lock:
                self._shown.pop(request_id, None)
                self._answers.pop(request_id, None)
                comms = list(self._comms.values())
            for comm, context in comms:
                context.copy().run(comm.send, {"type": "done", "id": request_id})
        return {"action": "accept", "content": {"answer": choice}}

    # -- comm callbacks (on the kernel's shell or subshell thread) ------------------------

    def _open(self, comm: Any, msg: dict[str, Any]) -> None:
        comm_id = str(comm.comm_id)
        with self._lock:
            self._comms[comm_id] = (comm, contextvars.copy_context())
        comm.on_msg(self._on_msg)
        comm.on_close(lambda _msg: self._close(comm_id))

    def _close(self, comm_id: str) -> None:
        with self._lock:
            self._comms.pop(comm_id, None)

    def _on_msg(self, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data")
        if not isinstance(data, dict):
            return
        request_id = str(data.get("id"))
        with self._lock:
            shown = self._shown.get(request_id)
            answer = self._answers.get(request_id)
        if data.get("type") in ("shown", "answer") and shown is not None:
            _settle(shown, None)
        if data.get("type") == "answer" and answer is not None:
            choice = str(data.get("answer", ""))
            _settle(answer, choice if choice in _ANSWERS else "deny")


def _settle(future: concurrent.futures.Future[Any], value: Any) -> None:
    """Set `future`'s result unless it is already set (the first answer wins)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        future.set_result(value)


def _plain(about: JSONObject) -> JSONObject:
    """The request's fields as the dialog shows them: text, and the timeout in seconds."""
    fields = {key: str(about.get(key) or "") for key in ("tool", "server", "reason")}
    timeout = about.get("timeout_s")
    return {
        **fields,
        "arguments": str(about.get("arguments") or "{}"),
        "timeout_s": float(timeout) if isinstance(timeout, int | float) else 120.0,
    }
