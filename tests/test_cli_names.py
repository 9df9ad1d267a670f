"""`toolkernel tools` takes the Python names it prints, for a server named `my-server`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli import run
from toolkernel import ToolSpec
from toolkernel.registry import ToolRegistry

TOOLS = [
    ToolSpec("my-server", name, f"The tool {name}.") for name in ("class", "2fa", "get-weather")
] + [ToolSpec("my-server", "get_weather", "The other weather tool.")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    servers = {"my-server": {"command": "my-server"}, "solo": {"command": "solo-server"}}
    (folder / "mcp.json").write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    with ToolRegistry(path) as registry:
        registry.save_catalog("my-server", TOOLS)
        registry.set_server_status("my-server", "connected", tool_count=4)
        registry.set_server_status("solo", "connected", tool_count=1)
    return path


def test_tools_list_filters_by_either_spelling_of_the_server(project: Path, home: Path) -> None:
    by_python = run("tools", "list", "--server", "my_server", cwd=project, home=home)
    by_original = run("tools", "list", "--server", "my-server", cwd=project, home=home)
    assert by_python.returncode == 0, by_python.stderr
    assert by_python.stdout.splitlines() == [
        "my_server._2fa",
        "my_server.class_",
        "my_server.get_weather_2",
        "my_server.get_weather",
    ]
    assert by_original.stdout == by_python.stdout


def test_tools_show_takes_every_name_tools_list_prints(project: Path, home: Path) -> None:
    names = run("tools", "list", cwd=project, home=home).stdout.splitlines()
    for name in names:
        out = run("tools", "show", name, "--json", cwd=project, home=home)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["name"] == name


def test_servers_counts_one_tool_in_the_singular(project: Path, home: Path) -> None:
    out = run("servers", cwd=project, home=home)
    assert out.stdout.splitlines() == ["my-server: connected (4 tools)", "solo: connected (1 tool)"]
