"""Translate MCP SDK objects into toolkernel's transport-neutral data.

Everything past the host speaks `ToolSpec` and `ToolResult` (plain JSON), so a later
out-of-process host can hand them over a pipe unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkernel._spec import ToolResult, ToolSpec

if TYPE_CHECKING:
    from mcp import types

__all__ = ["result_from_mcp", "spec_from_mcp"]


def spec_from_mcp(source: str, tool: types.Tool) -> ToolSpec:
    """Return the `ToolSpec` of one tool from a server's `tools/list`."""
    annotations = (
        tool.annotations.model_dump(by_alias=True, mode="json", exclude_none=True)
        if tool.annotations is not None
        else None
    )
    return ToolSpec(
        source=source,
        name=tool.name,
        description=tool.description or "",
        input_schema=_plain(tool.input_schema) or {"type": "object"},
        output_schema=_plain(tool.output_schema),
        annotations=annotations or None,
        title=tool.title or (tool.annotations.title if tool.annotations else None),
        kind="mcp",
    )


def result_from_mcp(qualified_name: str, result: types.CallToolResult) -> ToolResult:
    """Return the `ToolResult` of a `tools/call` answer."""
    return ToolResult(
        tool=qualified_name,
        content=[
            block.model_dump(by_alias=True, mode="json", exclude_none=True)
            for block in result.content
        ],
        structured=result.structured_content,
        is_error=bool(result.is_error),
        meta=result.meta if isinstance(result.meta, dict) else None,
    )


def _plain(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    dumped: dict[str, Any] = schema.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped
