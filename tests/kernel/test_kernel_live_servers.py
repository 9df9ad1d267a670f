"""Servers added while a kernel runs: add_server, remove_server, and edits to mcp.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tk_support import python_server, write_config

pytestmark = pytest.mark.timeout(180)
FOLLOW_WAIT = 30


def wait_for(kernel: Any, expression: str, within: float = FOLLOW_WAIT) -> None:
    """Check `expression` in the kernel until it is true; each check is a round trip."""
    deadline = time.monotonic() + within
    while not kernel.value(expression):
        assert time.monotonic() < deadline, f"{expression} did not hold within {within} s"


def home_servers(kernel: Any) -> dict[str, Any]:
    home = Path(kernel.value("str(get_ipython().kernel.toolbox.home)"))
    servers: dict[str, Any] = json.loads((home / "mcp.json").read_text())["mcpServers"]
    return servers


def test_add_server_binds_its_tools_at_once_and_remove_server_drops_them(
    kernel_factory: Any,
) -> None:
    kernel = kernel_factory({"echo": python_server("echo_server.py")})
    entry = python_server("mortal_server.py")
    status = kernel.value(f"add_server('mortal', {entry!r}).state")
    assert status == "connected"
    assert kernel.value("(await tools.mortal.greet(name='ada')).startswith('hello ada')")
    assert "mortal.greet" in kernel.value("list(list_tool_names())")
    assert home_servers(kernel)["mortal"] == entry
    kernel.execute("remove_server('mortal')")
    assert "mortal" not in home_servers(kernel)
    assert not any(n.startswith("mortal.") for n in kernel.value("list(list_tool_names())"))
    assert kernel.value("hasattr(tools, 'mortal')") is False
    assert kernel.value('await tools.echo.echo(text="still")') == "still"


REFUSED = [
    ("../evil", {"command": "x"}, "is not allowed"),
    ("a.b", {"command": "x"}, "is not allowed"),
    ("ok name", {"command": "x"}, "is not allowed"),
    ("local", {"command": "x"}, "tool namespace of the registry"),
    ("skills", {"command": "x"}, "tool namespace of the registry"),
    ("echo", {"command": "x"}, "exists; call remove_server('echo') first"),
    ("nothing", {"args": ["x"]}, "needs a non-empty 'command'"),
    ("badargs", {"command": "x", "args": "-v"}, "'args' must be a list of strings"),
]


def test_add_server_refuses_unsafe_names_and_bad_entries(kernel_factory: Any) -> None:
    kernel = kernel_factory({"echo": python_server("echo_server.py")})
    for name, entry, error in REFUSED:
        out = kernel.execute(f"add_server({name!r}, {entry!r})", allow_error=True)
        assert out.error is not None, name
        assert out.error["ename"] == "ConfigError"
        assert error in out.error["evalue"], (name, out.error["evalue"])
    servers = kernel.value("list(get_ipython().kernel.toolbox.server_config.servers)")
    assert servers == ["echo"]
    assert "mcpServers" not in kernel.value(
        "__import__('pathlib').Path(get_ipython().kernel.toolbox.home, 'mcp.json').exists() "
        "and open(get_ipython().kernel.toolbox.home / 'mcp.json').read() or ''"
    )


def test_an_edited_mcp_json_is_followed_without_a_restart(kernel_factory: Any) -> None:
    kernel = kernel_factory({"echo": python_server("echo_server.py")})
    config = Path(kernel.value("str(get_ipython().kernel.toolbox.server_config.path)"))
    servers = {"echo": python_server("echo_server.py"), "mortal": python_server("mortal_server.py")}
    write_config(config, servers)
    wait_for(kernel, "'mortal.greet' in list_tool_names()")
    assert kernel.value("(await tools.mortal.greet(name='bo')).startswith('hello bo')")
    config.write_text('{"mcpServers": {"mortal": ', encoding="utf-8")  # a half-written save
    wait_for(kernel, "get_ipython().kernel.toolbox.config_error is not None")
    assert "the servers read before keep running" in kernel.execute("%tools").stdout
    assert kernel.value('await tools.echo.echo(text="kept")') == "kept"
    write_config(config, {"mortal": python_server("mortal_server.py")})
    wait_for(kernel, "not hasattr(tools, 'echo')")
    assert "echo" not in kernel.execute("%tools").stdout


def test_a_folder_mcp_json_written_later_is_used_only_once_a_person_approves_it(
    kernel_factory: Any, tmp_path: Path
) -> None:
    kernel = kernel_factory(None)
    folder = Path(kernel.value("__import__('os').getcwd()"))
    write_config(folder / "mcp.json", {"mortal": python_server("mortal_server.py")})
    wait_for(kernel, "get_ipython().kernel.toolbox.config_error is not None")
    assert "is not trusted yet" in kernel.execute("%tools").stdout
    assert kernel.value("list(get_ipython().kernel.toolbox.server_config.servers)") == []
    assert "Its servers are starting" in kernel.execute("%tools trust").stdout
    kernel.execute("await wait_for_servers(30)")
    assert kernel.value("(await tools.mortal.greet(name='cy')).startswith('hello cy')")
