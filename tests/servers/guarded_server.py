"""guarded: a notes server whose tools say how dangerous they are (MCP tool annotations).

Run: `python tests/servers/guarded_server.py` (stdio).

Tools:

- `delete_note(name)`: annotated `destructiveHint: true`; records `name` as deleted and
  returns `deleted <name>`.
- `read_note(name)`: annotated `readOnlyHint: true`; returns `note <name>`.
- `rename_note(name, new_name)`: no annotations; returns `renamed <name> to <new_name>`.
- `deleted()`: the names `delete_note` was really called with, in order, so a test sees
  that a denied call never reached the server.
"""

from mcp.server import MCPServer
from mcp_types import ToolAnnotations

server: MCPServer = MCPServer("guarded", version="1.0.0", log_level="WARNING")
_deleted: list[str] = []


@server.tool(annotations=ToolAnnotations(destructive_hint=True, read_only_hint=False))
def delete_note(name: str) -> str:
    """Delete a note for good."""
    _deleted.append(name)
    return f"deleted {name}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def read_note(name: str) -> str:
    """Read a note."""
    return f"note {name}"


@server.tool()
def rename_note(name: str, new_name: str) -> str:
    """Rename a note."""
    return f"renamed {name} to {new_name}"


@server.tool()
def deleted() -> list[str]:
    """The names delete_note was called with, in order."""
    return list(_deleted)


if __name__ == "__main__":
    server.run()
