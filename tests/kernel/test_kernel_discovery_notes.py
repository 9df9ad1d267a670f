"""Discovery says what it may miss: servers still connecting or failed, or no mcp.json."""

from __future__ import annotations

from typing import Any

import pytest

from tk_support import python_server

pytestmark = pytest.mark.timeout(180)


def test_a_new_home_lists_connected_tools_and_names_slow_and_failed_servers(
    kernel_factory: Any,
) -> None:
    kernel = kernel_factory(
        {
            "echo": python_server("echo_server.py"),
            "hangs": python_server("hang_server.py"),
            "crashes": python_server("crash_server.py"),
        }
    )
    kernel.execute("names = list_tool_names()")
    # No cached catalog: discovery waited (bounded) for echo's first connection.
    assert "echo.echo" in kernel.value("list(names)")
    notes = kernel.value("names.notes")
    assert any("still connecting" in n and "hangs" in n for n in notes), notes
    assert any("'crashes' is unavailable" in n and "CRASH_SERVER_TOKEN" in n for n in notes)
    # The hanging server was waited for once; it is named again, never waited for again.
    again = kernel.value("search_tools('echo text', detail='name').notes")
    assert any("hangs" in n for n in again), again
    shown = kernel.execute("list_tool_names('echo')").text
    assert "# note: still connecting, tools not listed yet: hangs" in shown


def test_without_mcp_json_discovery_and_tools_magic_say_where_they_looked(
    kernel_factory: Any,
) -> None:
    kernel = kernel_factory(None)
    assert kernel.value("list(list_tool_names())") == []
    notes = kernel.value("search_tools('anything').notes")
    assert len(notes) == 1
    assert "no mcp.json was found" in notes[0]
    assert "$TOOLKERNEL_MCP_CONFIG (unset)" in notes[0]
    home = kernel.value("str(get_ipython().kernel.toolbox.home)")
    assert f"{home}/mcp.json" in notes[0]
    out = kernel.execute("%tools").stdout
    assert "No mcp.json was found; looked in $TOOLKERNEL_MCP_CONFIG (unset)" in out
    assert f"{home}/mcp.json" in out
