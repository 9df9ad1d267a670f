"""The bridge's stdio transport: large messages, the end of stdin, a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tk_support import write_config

pytestmark = pytest.mark.timeout(180)
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")
FIVE_MB = 5 * 1024 * 1024


def bare_env(base: Path) -> dict[str, str]:
    """This process's environment, a fresh home under `base` and no tool servers."""
    return {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(write_config(base / "mcp.json", {})),
    }


def request(id_: int, method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}).encode()


INITIALIZE = request(
    1,
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
)
INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()


@contextlib.contextmanager
def started_bridge(base: Path, stdin: Any = subprocess.PIPE) -> Iterator[subprocess.Popen[bytes]]:
    """`toolkernel mcp` with a pipe for stdout, its stderr in `base/stderr`; killed if left."""
    with (base / "stderr").open("wb") as stderr:
        proc = subprocess.Popen(
            [TOOLKERNEL, "mcp"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=bare_env(base),
            cwd=str(base),
        )
    with proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                for process in psutil.Process(proc.pid).children(recursive=True):
                    process.kill()
                proc.kill()


def initialized(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """Initialize the bridge's session; its processes (the kernel among them)."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(INITIALIZE + b"\n" + INITIALIZED + b"\n")
    proc.stdin.flush()
    # The first reply comes once the kernel is up; the bridge's stdout stays open until then.
    reply = json.loads(proc.stdout.readline())
    assert reply["id"] == 1
    assert "serverInfo" in reply["result"]
    return psutil.Process(proc.pid).children(recursive=True)


def ended(
    proc: subprocess.Popen[bytes], children: list[psutil.Process], base: Path
) -> tuple[int, str]:
    """The bridge's exit status and stderr, once it and its kernel have ended (bounded)."""
    status = proc.wait(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []
    return status, (base / "stderr").read_text(errors="replace")


def test_five_megabyte_request_and_reply_cross_stdio_whole(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=TOOLKERNEL,
        args=["mcp", "--output-cap", str(2 * FIVE_MB)],
        env=bare_env(tmp_path),
        cwd=str(tmp_path),
    )
    code = f'blob = "{"a" * FIVE_MB}"\nlen(blob)'

    async def scenario() -> tuple[str, str]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            sent = await session.call_tool("execute_code", {"code": code})
            echoed = await session.call_tool("execute_code", {"code": "print(blob, end='')"})
        return sent.content[0].text, "".join(getattr(c, "text", "") for c in echoed.content)

    length, echoed = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert length == str(FIVE_MB)
    assert echoed.count("a") == FIVE_MB


def test_end_of_stdin_ends_the_bridge_and_its_kernel(tmp_path: Path) -> None:
    with started_bridge(tmp_path) as proc:
        children = initialized(proc)
        assert children  # the kernel
        assert proc.stdin is not None
        proc.stdin.close()
        status, stderr = ended(proc, children, tmp_path)
    assert status == 0, stderr
    assert "Traceback" not in stderr


def test_a_client_that_closes_its_read_end_ends_the_bridge_cleanly(tmp_path: Path) -> None:
    with started_bridge(tmp_path) as proc:
        children = initialized(proc)
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdout.close()
        # The reply to this call has no reader: the bridge stops, as if stdin had ended.
        call = request(2, "tools/call", {"name": "execute_code", "arguments": {"code": "1"}})
        proc.stdin.write(call + b"\n")
        proc.stdin.flush()
        status, stderr = ended(proc, children, tmp_path)
    assert status == 0, stderr
    assert "closed its end of stdout" in stderr
    assert "Traceback" not in stderr


def test_a_file_on_stdin_is_served_until_its_end(tmp_path: Path) -> None:
    # A regular file cannot be polled by the event loop: the SDK's threaded reader serves it.
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(INITIALIZE + b"\n")
    with requests.open("rb") as stdin, started_bridge(tmp_path, stdin=stdin) as proc:
        stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, (tmp_path / "stderr").read_text(errors="replace")
    assert "serverInfo" in json.loads(stdout)["result"]
