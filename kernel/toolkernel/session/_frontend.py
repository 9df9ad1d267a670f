"""Where one tool call's side channels go: progress, streamed output, logs, client asks.

A session has no screen. Whoever runs it (the kernel, for a cell) supplies a
`FrontEnd`, asked once per call, in the calling task, for that call's `CallObservers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from toolkernel.host import ClientRelay

__all__ = ["CallObservers", "FrontEnd"]


@dataclass(frozen=True)
class CallObservers:
    """The side channels of one call; each is optional and called from the host thread.

    Attributes:
        on_progress: `(progress, total, message)` for each progress report.
        on_output: Text a script tool streams to stdout.
        on_log: `(tool, level, text)` for each log message a script tool sends.
        relay: Answers a server's sampling or elicitation request for this call.
    """

    on_progress: Callable[[float, float | None, str | None], None] | None = None
    on_output: Callable[[str], None] | None = None
    on_log: Callable[[str, int, str], None] | None = None
    relay: ClientRelay | None = None


class FrontEnd(Protocol):
    """Makes the observers of each call (the kernel's shows them in the calling cell)."""

    def observers(self, tool: str) -> CallObservers:
        """The observers for one call of `tool` (qualified), made in the calling task."""
        ...
