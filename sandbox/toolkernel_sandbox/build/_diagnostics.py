"""Compiler output made readable: no colours, no temp-dir paths, only what matters."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["LineCleaner", "summarize"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# cargo's progress lines say nothing about what went wrong.
_PROGRESS = re.compile(
    r"^\s*(Compiling|Finished|Updating|Locking|Blocking|Running|Checking|Fresh|Downloaded?)\s"
)
_FIRST_ERROR = re.compile(r"(^|[\s:])error(\[\w+\])?:", re.IGNORECASE)
MAX_LINES = 60
MAX_CHARS = 6000


class LineCleaner:
    """Cleans compiler lines as they stream: strips colours, shortens paths.

    Paths under the build directory become relative to the source (`src/main.rs`
    rather than `/tmp/toolkernel-build-x1y2/project/src/main.rs`). Every cleaned line
    is kept in `lines` and passed to `forward`, if given.
    """

    def __init__(self, roots: Sequence[Path], forward: Callable[[str], None] | None) -> None:
        # Longest first, so a source dir wins over the work dir that holds it.
        self._prefixes = sorted((f"{root}/" for root in roots), key=len, reverse=True)
        self._forward = forward
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        """Clean one line, keep it, and forward it."""
        cleaned = _ANSI.sub("", line).rstrip()
        for prefix in self._prefixes:
            cleaned = cleaned.replace(prefix, "")
        self.lines.append(cleaned)
        if self._forward is not None:
            self._forward(cleaned)


def summarize(lines: Sequence[str]) -> str:
    """The part of a failed build's output a person needs: from the first error on.

    Progress lines are dropped; without an error line, the last lines are kept. The
    result is at most `MAX_LINES` lines and about `MAX_CHARS` characters.
    """
    useful = [line for line in lines if line.strip() and not _PROGRESS.match(line)]
    start = next((i for i, line in enumerate(useful) if _FIRST_ERROR.search(line)), None)
    kept = useful[start:] if start is not None else useful[-MAX_LINES:]
    dropped = max(0, len(kept) - MAX_LINES)
    text = "\n".join(kept[:MAX_LINES])
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit("\n", 1)[0]
        dropped = len(kept) - text.count("\n") - 1
    if dropped:
        text += f"\n... ({dropped} more lines)"
    return text
