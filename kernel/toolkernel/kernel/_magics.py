"""`%tools`: server status, search and details from a cell."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class

if TYPE_CHECKING:
    from toolkernel.host import ServerStatus
    from toolkernel.kernel._toolbox import Toolbox

__all__ = ["ToolMagics", "format_status"]

_MARKS = {"connected": "✓", "connecting": "…", "failed": "✗"}
_USAGE = """\
%tools                 each server's status, and how many tools it offers
%tools search QUERY    the best matching tools (BM25)
%tools show NAME       the signature and docstring of one tool (server.tool)"""


@magics_class
class ToolMagics(Magics):
    """The `%tools` line magic."""

    def __init__(self, shell: InteractiveShell, toolbox: Toolbox) -> None:
        super().__init__(shell=shell)
        self._toolbox = toolbox

    @line_magic
    def tools(self, line: str) -> None:
        """Show status (`%tools`), search (`%tools search q`) or details (`%tools show n`)."""
        words = shlex.split(line)
        if not words or words[0] == "status":
            print(format_status(self._toolbox.statuses(), self._toolbox.config_error))
        elif words[0] == "search" and len(words) > 1:
            query = " ".join(words[1:])
            for row in self._toolbox.discovery.search_tools(query, limit=10):
                if isinstance(row, dict):
                    print(f"{row['name']}  {row['description']}")
        elif words[0] == "show" and len(words) == 2:
            print(self._toolbox.get_tool_details(words[1]))
        else:
            print(_USAGE)


def format_status(statuses: list[ServerStatus], config_error: str | None = None) -> str:
    """Return one line per server: mark, name, state, tool count or what went wrong."""
    lines = [f"✗ mcp.json: {config_error}"] if config_error else []
    if not statuses and not config_error:
        return (
            "No MCP servers configured. Add them to mcp.json "
            '({"mcpServers": {name: {"command": ..., "args": [...]}}}) in this folder, '
            "in the toolkernel home, or at $TOOLKERNEL_MCP_CONFIG, then restart the kernel."
        )
    width = max((len(s.name) for s in statuses), default=0)
    for status in statuses:
        mark = _MARKS.get(status.state, "?")
        count = "" if status.tool_count is None else f"{status.tool_count} tools"
        if status.state == "connecting" and status.tool_count is not None:
            count += " (cached)"
        line = f"{mark} {status.name:<{width}}  {status.state:<10}  {count}".rstrip()
        if status.state == "failed" and status.detail:
            line += f"\n    {status.detail}"
        lines.append(line)
    return "\n".join(lines)
