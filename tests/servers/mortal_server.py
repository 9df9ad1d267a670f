"""mortal: an MCP server whose process a test can kill while it is idle.

Run: `python tests/servers/mortal_server.py`.

Tools:

- `pid()`: this server process's id (kill it to make the server die while idle).
- `greet(name)`: `hello <name> from <pid>`, so a test sees which process answered.
"""

import os

from mcp.server import MCPServer

server: MCPServer = MCPServer("mortal", version="1.0.0", log_level="WARNING")


@server.tool(structured_output=False)
def pid() -> int:
    """Return this server process's id."""
    return os.getpid()


@server.tool(structured_output=False)
def greet(name: str) -> str:
    """Greet `name`, saying which process answered."""
    return f"hello {name} from {os.getpid()}"


if __name__ == "__main__":
    server.run()
