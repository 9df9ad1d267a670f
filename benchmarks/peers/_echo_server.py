"""Stdio MCP server for the peer benchmarks (mcp 2.x, ``MCPServer``).

Always exposes ``echo(text: str) -> str``. ``--tools N`` pads the catalog to N
tools in total with simple generated tools (``tool_0001(text, count=1)`` ...), so
the same server measures bindings-ready time at 3 and at 1,000 tools.

Run with /work/main/.venv/bin/python (mcp 2.3.0).
"""

from __future__ import annotations

import argparse

from mcp.server import MCPServer


def build(total_tools: int) -> MCPServer:
    server = MCPServer("bench-echo")

    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    server.add_tool(echo, name="echo", structured_output=False)

    for i in range(1, max(total_tools, 1)):

        def padded(text: str, count: int = 1) -> str:
            return text * count

        server.add_tool(
            padded,
            name=f"tool_{i:04d}",
            description=f"Synthetic tool number {i}: repeats text count times.",
            structured_output=False,
        )
    return server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", type=int, default=1, help="total number of tools")
    args = ap.parse_args()
    build(args.tools).run("stdio")


if __name__ == "__main__":
    main()
