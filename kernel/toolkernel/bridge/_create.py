"""The bridge's `create_tool`: its input schema is `ToolDraft`'s, its work the kernel's.

The parameters are defined once, on `ToolDraft` (`toolkernel.kinds`); the MCP tool's
schema is made from it, a call's arguments are checked by it here (so a wrong one is
refused before the kernel builds anything), and the kernel's session creates the tool
over the typed channel.
"""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, TextContent, Tool, ToolAnnotations

from toolkernel.bridge._sessions import KernelHandle
from toolkernel.errors import BridgeError, ToolkernelError
from toolkernel.kinds import ToolDraft

__all__ = ["CREATE_TOOL", "create_tool", "create_tool_spec"]

CREATE_TOOL = "create_tool"
BUILD_TIMEOUT_S = 900.0
_KINDS = ("wasm", "script", "pipeline")
_DESCRIPTION = (
    "Create or update a tool from source; it is built, stored as a new version and "
    "callable at once as `await tools.<namespace>.<name>(...)` in execute_code. "
    "kind='wasm': a WASI program in rust, c, zig or wat (or a prebuilt wasm module as "
    "base64) that reads its arguments as one JSON object on stdin and prints one JSON "
    "value on stdout. It runs with no files, network or environment unless its policy "
    "grants them, under fuel, memory, time and output limits. kind='pipeline': `steps` "
    "that call other tools, no source. kind='script': a python, node, ruby or bash "
    "program speaking JSON-RPC 2.0 on stdio (it reads an `execute` request line and "
    "prints a response line), run in a sandbox with no network unless "
    "policy={'network': true}."
)


def create_tool_spec() -> Tool:
    """The MCP tool, its input schema made from `ToolDraft` (a name is required)."""
    schema = ToolDraft.json_schema(kinds=_KINDS)
    schema["properties"]["name"] = {
        "type": "string",
        "description": schema["properties"]["name"]["description"],
    }
    schema["required"] = ["name"]
    # Each create is a new version (history is kept): additive, not destructive.
    annotations = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
    )
    return Tool(
        name=CREATE_TOOL, description=_DESCRIPTION, input_schema=schema, annotations=annotations
    )


async def create_tool(session: KernelHandle, arguments: dict[str, Any]) -> CallToolResult:
    """Check `arguments` as a `ToolDraft`, then create the tool in the kernel."""
    try:
        draft = ToolDraft.from_arguments(arguments)
        if draft.name is None or draft.kind not in _KINDS:
            msg = f"give a `name`, and a kind of {', '.join(_KINDS)}"
            raise BridgeError(msg)
        rest = {key: value for key, value in arguments.items() if key != "name"}
        created = await session.request(
            "tools/create", {"name": draft.name, "arguments": rest}, timeout=BUILD_TIMEOUT_S
        )
    except ToolkernelError as exc:
        return _error(str(exc))
    text = (
        f"created {created['name']} version {created['version']}; call it as "
        f"`await tools.{created['name']}(...)`"
    )
    return CallToolResult(content=[TextContent(type="text", text=text)])


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
