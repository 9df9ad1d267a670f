"""Task-augmented tool calls (MCP tasks, protocol 2025-11-25).

A tool whose `execution.taskSupport` is `required` answers only a `tools/call` that asks
for a task; one that says `optional` may be called either way. A task call goes:

1. `tools/call` with `task`: the server answers at once with the task (`CreateTaskResult`).
2. `tasks/result`: blocks until the task ends, then returns the tool's `CallToolResult`.
   A server that needs input meanwhile (`input_required`) sends its elicitation while
   this request is open, so the call's relay answers it as for a plain call.
3. Meanwhile `tasks/get` is polled at the server's `pollInterval`; each new status
   message becomes a progress report.
4. If the caller is cancelled (an interrupted cell), `tasks/cancel` stops the task.

When is a call made as a task? `required`: always. `optional`: on HTTP servers only,
where a plain call holds one response stream open for the whole run (and a long run
meets the read timeout or a dropped connection), while a task is fetched with short
requests; over stdio nothing times out, and a plain call saves two round trips.

The SDK (2.x) has the task types but no client methods: `tasks/*` go through
`ClientSession.send_request`, and the first `tools/call` through the session's
dispatcher, because the session checks every `tools/call` answer against
`CallToolResult`, which a `CreateTaskResult` is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp import types
from mcp.client.session import ClientSession
from mcp.shared.dispatcher import ProgressFnT

__all__ = ["SendRaw", "TaskProgress", "call_as_task", "runs_as_task"]

log = logging.getLogger("toolkernel.host")

SendRaw = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]
"""Sends one request as it is and returns the raw result: `(method, params)`."""
TaskProgress = ProgressFnT
"""Receives `(progress, total, message)`: the server's progress, or a task's status."""

TASK_TTL_MS = 15 * 60 * 1000
"""How long we ask the server to keep a task's result after it was created."""
_POLL_DEFAULT_S = 1.0
_POLL_RANGE_S = (0.1, 5.0)
_CANCEL_TIMEOUT_S = 5.0


def runs_as_task(task_support: str | None, *, over_http: bool) -> bool:
    """Whether a tool with this `execution.taskSupport` is called as a task (see above)."""
    return task_support == "required" or (task_support == "optional" and over_http)


async def call_as_task(
    session: ClientSession,
    send_raw: SendRaw,
    tool: str,
    arguments: dict[str, Any],
    on_progress: TaskProgress | None,
) -> types.CallToolResult:
    """Call `tool` as a task and return its result once the task has ended.

    Raises:
        MCPError: The server refused the task, or the task failed or was cancelled.
        asyncio.CancelledError: The caller was cancelled; the task is cancelled too.
    """
    params = {"name": tool, "arguments": arguments, "task": {"ttl": TASK_TTL_MS}}
    created = types.CreateTaskResult.model_validate(await send_raw("tools/call", params))
    task = created.task
    watcher = asyncio.create_task(_watch(session, task, on_progress))
    try:
        request = types.GetTaskPayloadRequest(
            params=types.GetTaskPayloadRequestParams(task_id=task.task_id)
        )
        return await session.send_request(request, types.CallToolResult)
    except asyncio.CancelledError:
        await _cancel(session, task.task_id)
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _watch(
    session: ClientSession, task: types.Task, on_progress: TaskProgress | None
) -> None:
    """Poll `tasks/get` until the task ends, reporting each new status message."""
    reported: str | None = None
    steps = 0
    while True:
        message = task.status_message or task.status.replace("_", " ")
        if on_progress is not None and message != reported:
            reported, steps = message, steps + 1
            await on_progress(steps, None, message)
        if task.status in ("completed", "failed", "cancelled"):
            return
        interval = (task.poll_interval or _POLL_DEFAULT_S * 1000) / 1000
        await asyncio.sleep(min(max(interval, _POLL_RANGE_S[0]), _POLL_RANGE_S[1]))
        request = types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task.task_id))
        try:
            task = await session.send_request(request, types.GetTaskResult)
        except Exception as exc:  # progress is a courtesy: tasks/result still decides
            log.debug("tasks/get for %s failed: %s", task.task_id, exc)
            return


async def _cancel(session: ClientSession, task_id: str) -> None:
    """Ask the server to cancel the task; bounded, and never raising."""
    request = types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task_id))
    try:
        async with asyncio.timeout(_CANCEL_TIMEOUT_S):
            await session.send_request(request, types.CancelTaskResult)
    except Exception as exc:
        log.warning("could not cancel task %s: %s", task_id, exc)
