"""Turn one kernel execution into an MCP tool result a model can read.

Text comes first (stdout, stderr, the last expression), capped: a long text loses its
middle, keeping its head and tail, and the full text stays in a kernel variable whose
name the reply gives at the cut. An error is never cut away: it comes back as `isError`
with a trimmed, uncoloured traceback that ends in the real message, after the output.
Images become `ImageContent`, up to a size cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent

from toolkernel.bridge._session import Execution

__all__ = ["ReplyLimits", "build_reply", "stash_variable"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TRACEBACK_LINES = 30


@dataclass(frozen=True)
class ReplyLimits:
    """Caps on what one reply may hold.

    Attributes:
        output_chars: Text beyond this many characters is cut (the full text is kept
            in a kernel variable).
        image_bytes: Images larger than this (base64 bytes) are not sent.
    """

    output_chars: int = 20_000
    image_bytes: int = 1_000_000


def stash_variable(execution_count: int | None) -> str:
    """Name of the kernel variable that keeps the full output of a cut reply."""
    return f"_bridge_output[{execution_count or 0}]"


def build_reply(
    out: Execution, limits: ReplyLimits, *, stashed: bool = False, kept_images: bool = False
) -> CallToolResult:
    """Return the tool result for `out`.

    `stashed` says the full text was kept in the kernel (`_bridge_output[n]`);
    `kept_images` says the images over the cap were (`_bridge_images[n]`, as bytes).
    """
    notes: list[str] = []
    if out.restarted:
        notes.append(
            "The kernel died while running this code and was restarted: every variable "
            "and import from earlier calls is gone."
        )
    if out.timed_out:
        notes.append("Timed out: the kernel was interrupted; it is still usable.")
    error = _cut_middle(error_text(out), max(limits.output_chars // 2, 1), "")
    budget = max(limits.output_chars - len(error), limits.output_chars // 2)
    output = output_text(out)
    if len(output) > budget:
        total = len(full_text(out))
        where = (
            f"the full {total:,} characters are in the kernel variable "
            f"{stash_variable(out.execution_count)}"
            if stashed
            else f"{total:,} characters in all"
        )
        output = _cut_middle(output, budget, where)
    text = "\n".join(part for part in (output, error) if part)
    content: list[ContentBlock] = []
    body = "\n".join([*notes, text]).strip()
    if body:
        content.append(TextContent(type="text", text=body))
    kept = 0
    for mime, data in out.images:
        if len(data) > limits.image_bytes:
            size, cap = f"{len(data):,}", f"{limits.image_bytes:,}"
            note = f"[an {mime} image of {size} base64 bytes was not sent (cap {cap})"
            if kept_images:
                note += f"; its bytes are in _bridge_images[{out.execution_count or 0}][{kept}]"
                kept += 1
            content.append(TextContent(type="text", text=note + "]"))
        else:
            content.append(ImageContent(type="image", data=data, mime_type=mime))
    if not content:
        content.append(TextContent(type="text", text="(no output)"))
    is_error = out.error is not None or out.timed_out or out.restarted
    return CallToolResult(content=content, is_error=is_error)


def full_text(out: Execution) -> str:
    """Everything textual the cell produced, in reading order (what a cut reply keeps)."""
    return "\n".join(part for part in (output_text(out), error_text(out)) if part)


def output_text(out: Execution) -> str:
    """stdout, stderr and the last expression's value."""
    parts = [out.stdout.rstrip("\n"), out.stderr.rstrip("\n"), out.result or ""]
    return "\n".join(part for part in parts if part)


def error_text(out: Execution) -> str:
    """The trimmed traceback of the cell's error, or "" when it raised nothing."""
    if out.error is None:
        return ""
    return trim_traceback(out.error[2]) or f"{out.error[0]}: {out.error[1]}"


def _cut_middle(text: str, budget: int, where: str) -> str:
    """`text` if it fits in `budget` characters, else its head and tail around a note."""
    if len(text) <= budget:
        return text
    head = budget // 2
    tail = budget - head
    cut = len(text) - head - tail
    note = f"\n[… {cut:,} characters cut here" + (f"; {where}" if where else "") + "]\n"
    return text[:head] + note + text[len(text) - tail :]


def trim_traceback(lines: list[str]) -> str:
    """Uncolour a traceback and keep its end, which holds the real message."""
    text = _ANSI.sub("", "\n".join(lines))
    kept = text.splitlines()
    if len(kept) > _TRACEBACK_LINES:
        kept = ["…", *kept[-_TRACEBACK_LINES:]]
    return "\n".join(kept).strip()
