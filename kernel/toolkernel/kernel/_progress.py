"""A live progress line in the cell that made a tool call.

Progress arrives in the host thread. It is handed to the cell's event loop (with the
cell's context, so the output lands in the right cell) and coalesced: however fast a
server reports, at most one display update is pending at a time.
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

from toolkernel.host import ClientRelay
from toolkernel.session import CallObservers

__all__ = ["CellFrontEnd", "CellOutput", "ProgressLine", "link_bundle", "show_link"]

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
        """Queue a tool's log message as a `[tool LEVEL] text` line."""
        self.write(f"[{tool} {logging.getLevelName(level).lower()}] {text}")

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


def render(label: str, progress: float, total: float | None, message: str | None) -> dict[str, str]:
    """Return a `text/plain` + `text/html` bundle for one progress state."""
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
    return {"text/plain": text, "text/html": f"<div>{meter} <code>{body}</code></div>"}


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
