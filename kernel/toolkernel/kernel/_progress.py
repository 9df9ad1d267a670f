"""A live progress line in the cell that made a tool call.

Progress arrives in the host thread. It is handed to the cell's event loop (with the
cell's context, so the output lands in the right cell) and coalesced: however fast a
server reports, at most one display update is pending at a time.

The display and its updates also carry `PROGRESS_MIME` (the numbers, as JSON), and a
tool's log message in a cell the bridge runs carries `LOG_MIME`: the bridge forwards
both to its client (MCP progress, MCP logging at the message's level) and keeps them
out of the reply's text.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from toolkernel._spec import LOG_MIME, PROGRESS_MIME
from toolkernel.host import ClientRelay
from toolkernel.session import CallObservers

__all__ = [
    "CellFrontEnd",
    "CellOutput",
    "LastResortRelay",
    "ProgressLine",
    "link_bundle",
    "show_link",
]

_BAR = 20


class ProgressLine:
    """Shows one call's progress; the display appears on the first report."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self._lock = threading.Lock()
        self._latest: tuple[float, float | None, str | None] | None = None
        self._pending = False
        self._handle: Any = None

    def report(self, progress: float, total: float | None, message: str | None) -> None:
        """Record a report; safe to call from any thread."""
        with self._lock:
            self._latest = (progress, total, message)
            if self._pending:
                return
            self._pending = True
        self._loop.call_soon_threadsafe(self._flush, context=self._context)

    def _flush(self) -> None:
        with self._lock:
            latest, self._pending = self._latest, False
        if latest is None:
            return
        from IPython.display import display  # noqa: PLC0415 - only inside a kernel

        bundle = render(self._label, *latest)
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


class CellOutput:
    """Writes text a tool streams (from the host thread) into the calling cell's stdout."""

    def __init__(self, stream: str = "stdout") -> None:
        """Write to the cell's `stream` (`stdout` or `stderr`)."""
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self._stream = stream

    def write(self, text: str) -> None:
        """Queue `text` for the cell's output; safe to call from any thread."""
        self._loop.call_soon_threadsafe(self._print, text, context=self._context)

    def log(self, tool: str, level: int, text: str) -> None:
        """Queue a tool's log message: a `[tool level] text` line that carries `LOG_MIME`."""
        self._loop.call_soon_threadsafe(self._show_log, tool, level, text, context=self._context)

    def _show_log(self, tool: str, level: int, text: str) -> None:
        from IPython.display import display  # noqa: PLC0415 - only inside a kernel

        name = mcp_level(level)
        record = {"logger": tool, "level": name, "text": text.rstrip("\n")}
        display({"text/plain": f"[{tool} {name}] {record['text']}", LOG_MIME: record}, raw=True)

    def _print(self, text: str) -> None:
        out = sys.stderr if self._stream == "stderr" else sys.stdout
        print(text, end="" if text.endswith("\n") else "\n", file=out, flush=True)


class CellFrontEnd:
    """The kernel's front end: each call's side channels appear in the calling cell."""

    def __init__(
        self,
        *,
        show_progress: bool,
        relay: Callable[[], ClientRelay],
        logs_to_cell: Callable[[], bool],
    ) -> None:
        """Show progress lines and streamed output when `show_progress`.

        Args:
            show_progress: Whether progress and a script's stdout appear in the cell.
            relay: Makes the calling cell's relay (sampling, elicitation).
            logs_to_cell: Whether a script's log messages go to the cell's stderr (the
                kernel says yes for cells the MCP bridge runs: they become MCP logs).
        """
        self._show_progress = show_progress
        self._relay = relay
        self._logs_to_cell = logs_to_cell

    def observers(self, tool: str) -> CallObservers:
        """Progress line, stdout and stderr of the calling cell, and its relay."""
        shown = self._show_progress
        return CallObservers(
            on_progress=ProgressLine(tool).report if shown else None,
            on_output=CellOutput().write if shown else None,
            on_log=CellOutput(stream="stderr").log if self._logs_to_cell() else None,
            relay=self._relay(),
        )


class LastResortRelay(logging.Handler):
    """Python's last-resort log handler, which keeps a record's level for the bridge.

    A record that no handler takes (a named logger's warning when logging is not
    configured) normally lands on stderr as its bare message. In a cell the bridge
    runs, it is shown as a `[logger level] message` line carrying `LOG_MIME`, so the
    bridge's client gets it at its level; elsewhere the original handler prints it.
    """

    def __init__(self, fallback: logging.Handler | None, in_bridge_cell: Callable[[], bool]):
        """Hand records to `fallback` outside cells where `in_bridge_cell()` is true."""
        super().__init__(fallback.level if fallback is not None else logging.WARNING)
        self._fallback = fallback
        self._in_bridge_cell = in_bridge_cell

    def emit(self, record: logging.LogRecord) -> None:
        """Show `record` with `LOG_MIME` in a bridge's cell, else pass it on."""
        try:
            relayed = threading.current_thread() is threading.main_thread() and bool(
                self._in_bridge_cell()
            )
        except Exception:
            relayed = False
        if not relayed:
            if self._fallback is not None:
                self._fallback.handle(record)
            return
        from IPython.display import display  # noqa: PLC0415 - only inside a kernel

        name = mcp_level(record.levelno)
        text = record.getMessage()
        entry = {"logger": record.name, "level": name, "text": text}
        display({"text/plain": f"[{record.name} {name}] {text}", LOG_MIME: entry}, raw=True)


def mcp_level(level: int) -> str:
    """The MCP logging level (`debug` ... `emergency`) of a Python logging level."""
    if level >= logging.CRITICAL:
        return "critical"
    if level >= logging.ERROR:
        return "error"
    if level >= logging.WARNING:
        return "warning"
    return "info" if level >= logging.INFO else "debug"


def render(label: str, progress: float, total: float | None, message: str | None) -> dict[str, Any]:
    """Return a `text/plain` + `text/html` + `PROGRESS_MIME` bundle for one progress state."""
    note = f"  {message}" if message else ""
    if total:
        fraction = max(0.0, min(1.0, progress / total))
        filled = round(fraction * _BAR)
        bar = "█" * filled + "░" * (_BAR - filled)
        text = f"{label} {bar} {_num(progress)}/{_num(total)}{note}"
        meter = f'<progress value="{fraction:.3f}" max="1"></progress>'
    else:
        text = f"{label} … {_num(progress)}{note}"
        meter = "<progress></progress>"
    body = html.escape(f"{label} {_num(progress)}" + (f"/{_num(total)}" if total else "") + note)
    numbers = {"label": label, "progress": progress, "total": total, "message": message}
    html_text = f"<div>{meter} <code>{body}</code></div>"
    return {"text/plain": text, "text/html": html_text, PROGRESS_MIME: numbers}


def link_bundle(message: str, url: str) -> dict[str, str]:
    """A `text/plain` + `text/html` bundle showing `message` and `url` as a link.

    Only http(s) links become anchors; any other scheme is shown as text.
    """
    text = f"{message}\n{url}"
    shown = html.escape(url)
    anchor = (
        f'<a href="{shown}" target="_blank" rel="noopener noreferrer">{shown}</a>'
        if url.startswith(("https://", "http://"))
        else f"<code>{shown}</code>"
    )
    return {"text/plain": text, "text/html": f"<div>{html.escape(message)}<br/>{anchor}</div>"}


def show_link(message: str, url: str) -> None:
    """Show `message` and `url`, as a link, in the running cell."""
    from IPython.display import display  # noqa: PLC0415 - only inside a kernel

    display(link_bundle(message, url), raw=True)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
