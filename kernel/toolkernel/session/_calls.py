"""What every call through a session passes: the per-execution cap and the call history.

A front end marks each cell it runs with `execution()`: calls made inside (in the
cell's task and the tasks it starts) count against the cell's cap, and are recorded
with its execution count. Outside a cell (a bridge's direct call, the panel) there is
no cap. The history is written to the registry by one background thread, so a call
never waits for SQLite.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from toolkernel._spec import ToolResult
from toolkernel.errors import ToolCallLimit, ToolCancelled, ToolDenied
from toolkernel.registry import HISTORY_KEEP, CallRecord, ToolRegistry

__all__ = ["CallNote", "CallRecorder", "Execution", "current_execution", "execution"]

log = logging.getLogger("toolkernel.kernel")

_FLUSH_WAIT_S = 5.0


@dataclass
class Execution:
    """One cell execution, as the calls made inside it see it.

    Attributes:
        count: The cell's execution count (None when the front end has none).
        max_tool_calls: The most tool calls the cell may make; 0: no cap.
        calls: How many tool calls it has made (refused ones not counted).
        id: Unique to this execution: the tool host counts its calls by it (the tool
            policy's per-execution budget).
    """

    count: int | None = None
    max_tool_calls: int = 0
    calls: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, tool: str) -> None:
        """Count one call of `tool`, or refuse it when the cell has used up its cap.

        Raises:
            ToolCallLimit: The cell already made `max_tool_calls` calls; nothing was sent.
        """
        with self._lock:
            if self.max_tool_calls <= 0 or self.calls < self.max_tool_calls:
                self.calls += 1
                return
        cap = self.max_tool_calls
        msg = (
            f"{tool} was not called: this cell already made {cap} tool calls, the most one "
            f"execution may make (max_tool_calls={cap}). Make fewer calls per cell (a "
            "pipeline or a batch tool does many in one), or raise the cap: "
            "c.Toolbox.max_tool_calls in the kernel's config, or --max-tool-calls for the "
            "kernel `toolkernel mcp` drives (0 turns it off)"
        )
        raise ToolCallLimit(msg, tool=tool, limit=cap)


_current: contextvars.ContextVar[Execution | None] = contextvars.ContextVar(
    "toolkernel_execution", default=None
)


def current_execution() -> Execution | None:
    """The cell execution the running code belongs to, if any."""
    return _current.get()


@contextmanager
def execution(count: int | None, max_tool_calls: int = 0) -> Iterator[Execution]:
    """Run a cell inside this block: its tool calls count against `max_tool_calls`."""
    scope = Execution(count=count, max_tool_calls=max(0, max_tool_calls))
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


class CallNote:
    """What the history keeps of one call, taken when it starts; ended by `answered`/`failed`."""

    def __init__(self, tool: str, arguments: dict[str, Any], cell: Execution | None) -> None:
        """Note the start of a call of `tool` with `arguments`, made in `cell` (if any)."""
        self.tool = tool
        self.size = len(json.dumps(arguments, separators=(",", ":"), default=str).encode())
        self.count = cell.count if cell is not None else None
        self.started_at = time.time()
        self.started = time.perf_counter()

    def answered(self, result: ToolResult) -> CallRecord:
        """The record of a call the tool answered (with an error result, or not)."""
        if result.is_error:
            return self._record("error", result.error_message(), result.approval)
        return self._record("ok", None, result.approval)

    def failed(self, exc: BaseException) -> CallRecord:
        """The record of a call that raised `exc` (refused, cancelled, or failed)."""
        if isinstance(exc, ToolDenied):
            return self._record("refused", str(exc), f"denied:{exc.by}")
        if isinstance(exc, ToolCallLimit):
            return self._record("refused", str(exc))
        if isinstance(exc, asyncio.CancelledError | ToolCancelled):
            return self._record("cancelled", str(exc) or "cancelled")
        return self._record("failed", str(exc) or type(exc).__name__)

    def _record(self, outcome: str, error: str | None, approval: str | None = None) -> CallRecord:
        return CallRecord(
            tool=self.tool,
            arguments_bytes=self.size,
            duration_s=time.perf_counter() - self.started,
            outcome=outcome,
            started_at=self.started_at,
            error=error,
            execution_count=self.count,
            pid=os.getpid(),
            approval=approval,
        )


class CallRecorder:
    """Writes call records to the registry's history from one background thread.

    `add` never blocks; `flush` waits (bounded) until what was added is written. A
    write that fails is logged and dropped: the history must never fail a call.
    """

    def __init__(self, registry: ToolRegistry, *, keep: int = HISTORY_KEEP) -> None:
        """Record into `registry`, keeping its newest `keep` rows; 0 records nothing."""
        self._registry = registry
        self._keep = keep
        # Records, flush marks (set once what came before is written), and None to stop.
        self._queue: queue.Queue[CallRecord | threading.Event | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def add(self, record: CallRecord) -> None:
        """Queue `record` for the history (the writer starts with the first one)."""
        if self._keep <= 0:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_loop, name="toolkernel-call-history", daemon=True
                )
                self._thread.start()
        self._queue.put(record)

    def flush(self, timeout: float = _FLUSH_WAIT_S) -> None:
        """Wait until every record added so far is written (at most `timeout` seconds)."""
        if self._thread is None:
            return
        written = threading.Event()
        self._queue.put(written)
        written.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then stop the writer (before the registry closes)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(_FLUSH_WAIT_S)

    def _write_loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            records = [item for item in batch if isinstance(item, CallRecord)]
            try:
                self._registry.record_calls(records, keep=self._keep)
            except Exception:
                log.exception("could not record %d tool calls in the history", len(records))
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if None in batch:
                return
