"""Helpers shared by the integration tests: real MCP server entries and kernels."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

TESTS = Path(__file__).parent
SERVERS = TESTS / "servers"
NPM_BIN = TESTS / "npm" / "node_modules" / ".bin"


def python_server(name: str, *args: str) -> dict[str, Any]:
    """An mcp.json entry that runs one of tests/servers/ over stdio."""
    return {"command": sys.executable, "args": [str(SERVERS / name), *args]}


def npm_server(package_bin: str, *args: str) -> dict[str, Any]:
    """An mcp.json entry for an npm server installed by .ci/setup (never via npx)."""
    path = NPM_BIN / package_bin
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash .ci/setup` to install the npm MCP servers")
    return {"command": str(path), "args": list(args)}


def write_config(path: Path, servers: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}, indent=1), encoding="utf-8")
    return path


def echo_env(base: Path) -> dict[str, str]:
    """This process's environment plus a fresh home under `base` and an mcp.json with echo."""
    config = write_config(base / "mcp.json", {"echo": python_server("echo_server.py")})
    return {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
    }


def start_kernel(base: Path, servers: dict[str, Any] | None, **kwargs: Any) -> Any:
    from kernel_driver import KernelDriver

    home = base / "home"
    home.mkdir(exist_ok=True)
    config = write_config(base / "mcp.json", servers) if servers is not None else None
    return KernelDriver(home=home, config=config, cwd=base, **kwargs)


T = TypeVar("T")


class LoopThread:
    """One event loop in a thread, for a module's tests: a jupyter_client async client is
    bound to the loop it started on, so every test submits to this one."""

    def __init__(self, wait: float = 60.0) -> None:
        self.wait = wait
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.wait)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def modules_loaded_by(module: str, roots: set[str]) -> list[str]:
    """Which of the top-level packages `roots` importing `module` loads, in a fresh
    interpreter (so nothing this test process imported counts)."""
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"roots = set({sorted(roots)!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & roots)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded
