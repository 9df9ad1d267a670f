"""Kernel start: kernelspec, catalog cache, dead servers, logging, HTTP servers."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from tk_support import SERVERS, python_server, start_kernel
from toolkernel import ToolSpec
from toolkernel.launcher import activated_path
from toolkernel.registry import ToolRegistry

pytestmark = pytest.mark.timeout(180)


def test_the_kernelspec_is_installed_with_the_package() -> None:
    spec = KernelSpecManager().get_kernel_spec("toolkernel")
    assert spec.display_name == "Toolkernel"
    assert spec.argv[1:4] == ["-P", "-m", "toolkernel.launcher"]
    assert Path(spec.argv[0]).name.startswith("python")


def test_dead_servers_never_block_start_and_show_why_in_tools_magic(kernel_factory: Any) -> None:
    kernel = kernel_factory(
        {
            "missing": {"command": "no-such-mcp-server-binary"},
            "crashes": python_server("crash_server.py"),
            "hangs": python_server("hang_server.py"),
            "novar": {"command": "x", "env": {"K": "${TOOLKERNEL_TEST_UNSET_VAR}"}},
            "echo": python_server("echo_server.py"),
        }
    )
    assert kernel.value("1 + 1") == 2
    assert kernel.value('await tools.echo.echo(text="alive")') == "alive"
    kernel.execute("await wait_for_servers(60)")
    out = kernel.execute("%tools").stdout
    assert "✓ echo" in out
    assert re.search(r"✗ missing\s+failed", out)
    assert "was not found. Install it or fix 'command' in mcp.json" in out
    assert "✗ crashes" in out
    assert "✗ hangs" in out
    assert "export TOOLKERNEL_TEST_UNSET_VAR" in out


def test_bindings_come_from_the_catalog_cache_before_a_server_answers(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    cached = [
        ToolSpec(
            source="slowpoke",
            name="lookup",
            description="Look a key up.",
            input_schema={
                "type": "object",
                "properties": {"key": {"type": "string"}},
                "required": ["key"],
            },
        )
    ]
    with ToolRegistry(home) as registry:
        registry.save_catalog("slowpoke", cached)
    kernel = start_kernel(tmp_path, {"slowpoke": python_server("hang_server.py")})
    try:
        sig = kernel.value("str(__import__('inspect').signature(tools.slowpoke.lookup))")
        assert sig == "(*, key: str) -> Any"
        assert "slowpoke" in kernel.execute("%tools").stdout
    finally:
        kernel.shutdown()


def test_server_log_messages_go_to_the_kernel_log(kernel_factory: Any) -> None:
    kernel = kernel_factory({"echo": python_server("echo_server.py")})
    kernel.execute(
        "import logging\n"
        "class Keep(logging.Handler):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lines = []\n"
        "    def emit(self, record):\n"
        "        self.lines.append(record.getMessage())\n"
        "keep = Keep()\n"
        "log = get_ipython().kernel.log\n"
        "log.addHandler(keep)\n"
        "log.setLevel(logging.INFO)\n"
        "await tools.echo.progress(steps=2)"
    )
    lines = kernel.value("keep.lines")
    assert "[mcp echo] step 2/2" in lines


@pytest.fixture
def http_echo(tmp_path: Path) -> Any:
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS / "echo_server.py"), "--transport", "http", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = ""
    for line in proc.stderr:
        if line.startswith("READY "):
            url = line.split()[1]
            break
    assert url, "the HTTP echo server did not report READY"
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_a_streamable_http_server_with_expanded_headers_works(
    kernel_factory: Any, http_echo: str
) -> None:
    kernel = kernel_factory(
        {"web": {"url": http_echo, "headers": {"X-Token": "${TK_TEST_TOKEN}"}}},
        extra_env={"TK_TEST_TOKEN": "abc"},
    )
    assert kernel.value('await tools.web.echo(text="over http")') == "over http"
    assert "✓ web" in kernel.execute("%tools").stdout


def test_the_kernel_runs_as_if_its_environment_were_activated(tmp_path: Path) -> None:
    # `make lab` starts `.venv/bin/jupyter` from a shell where the venv is not active:
    # `"command": "python"` in mcp.json must still mean this environment's interpreter.
    scripts = str(Path(sys.executable).parent)
    plain = ":".join(p for p in os.environ["PATH"].split(":") if p != scripts)
    config = {"echo": {"command": "python", "args": [str(SERVERS / "echo_server.py")]}}
    kernel = start_kernel(tmp_path, config, extra_env={"PATH": plain})
    try:
        assert kernel.value("__import__('shutil').which('python')") == str(Path(scripts) / "python")
        assert kernel.value('await tools.echo.echo(text="found")') == "found"
    finally:
        kernel.shutdown()


def test_activating_puts_the_scripts_folder_first_once() -> None:
    assert activated_path("/a:/venv/bin:/b", "/venv/bin") == "/venv/bin:/a:/b"
    assert activated_path("", "/venv/bin") == "/venv/bin"


@pytest.mark.parametrize("broken", ["garbage", "directory", "newer"])
def test_a_broken_registry_never_kills_the_kernel_and_says_how_to_recover(
    tmp_path: Path, broken: str
) -> None:
    database = tmp_path / "home" / "registry.db"
    database.parent.mkdir()
    if broken == "garbage":
        database.write_bytes(b"this is not an SQLite file" * 100)
    elif broken == "directory":
        database.mkdir()
    else:  # written by a newer toolkernel
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA user_version = 999")
    kernel = start_kernel(tmp_path, {"echo": python_server("echo_server.py")})
    try:
        assert kernel.value('await tools.echo.echo(text="mcp still works")') == "mcp still works"
        out = kernel.execute("%tools").stdout
        assert "✗ registry:" in out
        assert f"mv {database} {database}.broken" in out
        error = kernel.execute(
            "create_tool('x', language='wat', source='(module)')", allow_error=True
        )
        assert error.error is not None
        assert error.error["ename"] == "RegistryError"
        assert "nothing new is saved" in error.error["evalue"]
    finally:
        kernel.shutdown()


def test_the_home_and_registry_are_private_to_their_owner(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    ToolRegistry(home).close()
    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "registry.db").stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "registry.db").touch(mode=0o644)
    ToolRegistry(shared).close()
    assert shared.stat().st_mode & 0o777 == 0o700
    assert (shared / "registry.db").stat().st_mode & 0o777 == 0o600
