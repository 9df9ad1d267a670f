"""Text from servers, tools and imported skills, made inert for HTML and Markdown outputs.

JupyterLab renders the outputs of a cell the person ran as trusted: raw HTML inside
Markdown, and HTML outputs, go into the page as they are. Any text a server, a tool or
an imported skill chose (a description, a MIME type, a `SKILL.md`) must therefore never
reach those outputs unescaped, or an `<img onerror=...>` in a tool description runs
script in the person's browser.
"""

from __future__ import annotations

import html
import re

__all__ = ["code_fence", "markdown_cell", "safe_media_type"]

_BACKTICKS = re.compile(r"`+")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def code_fence(text: str, language: str = "text") -> str:
    """`text` as a fenced Markdown code block that nothing in `text` can close.

    A fence is closed only by a run of at least as many backticks, so the fence is one
    longer than the longest run in `text` (CommonMark 4.5); inside it, Markdown and HTML
    are shown as text.
    """
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


_CELL_ESCAPES = str.maketrans(
    {"|": "&#124;", "`": "&#96;", "[": "&#91;", "]": "&#93;", "\\": "&#92;", "!": "&#33;"}
)
"""Markdown's structure characters in a cell: a reference is text, never syntax
(CommonMark 6.2), so no link, image, code span or column can start from one."""


def markdown_cell(text: str) -> str:
    """`text` for one Markdown table cell, shown as plain text.

    HTML is escaped; pipes, backticks, brackets (links and images), backslashes and
    newlines are made inert.
    """
    one_line = " ".join(text.split())
    return html.escape(one_line).translate(_CELL_ESCAPES)


def safe_media_type(value: str, top: str) -> str | None:
    """`value` when it is a plain `top/subtype` media type (lowercased), else None."""
    lowered = value.strip().lower()
    if _MEDIA_TYPE.fullmatch(lowered) and lowered.split("/", 1)[0] == top:
        return lowered
    return None
