"""A real Jupyter Server (pytest-jupyter) with the toolkernel extension on a filled registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from panel_support import fill_registry

from toolkernel.registry import ToolRegistry


@pytest.fixture
def panel_home(home: Path) -> Path:
    """The `home` fixture's toolkernel home, with tools, versions and statuses in it."""
    fill_registry(home)
    return home


@pytest.fixture
def mcp_json(tmp_path: Path) -> Path:
    """An mcp.json with the two servers above, one not started yet, and a broken entry."""
    path = tmp_path / "mcp.json"
    servers = {
        "filesystem": {"command": "npx", "args": ["@modelcontextprotocol/server-filesystem"]},
        "everything": {"command": "npx", "args": ["@modelcontextprotocol/server-everything"]},
        "memory": {"command": "npx", "args": ["@modelcontextprotocol/server-memory"]},
        "broken": {"args": ["no command"]},
    }
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


@pytest.fixture
def jp_server_config(panel_home: Path, mcp_json: Path) -> dict[str, Any]:
    """Enable the extension and point it at the filled home and the mcp.json."""
    return {
        "ServerApp": {"jpserver_extensions": {"toolkernel": True}},
        "Toolkernel": {"home": str(panel_home), "mcp_config": str(mcp_json)},
    }


@pytest.fixture
def registry(panel_home: Path) -> Iterator[ToolRegistry]:
    """A second `ToolRegistry` on the same home, as another process (a kernel) opens it."""
    with ToolRegistry(panel_home) as reg:
        yield reg
