"""A persistent client for bench_kernel.py: per-call timings on request.

Run with the main venv's python (mcp 2.x):
    python benchmarks/_raw_echo_worker.py --server-cmd '["/py", "tests/servers/echo_server.py"]'
        [--via sdk|toolbox]

`--via sdk` (the baseline) calls through one raw `ClientSession` over `stdio_client`.
`--via toolbox` calls the same tools through toolkernel's generated bindings
(`tools.echo.echo(...)`) and `Toolbox` in a plain asyncio process with no Jupyter
kernel around it: that is the cost of toolkernel itself, without ipykernel.

After one warm-up call (the SDK's first call imports jsonschema) the worker prints
`{"ready": true}`, then serves one JSON request per stdin line, answering with one JSON line:

    {"tool": "echo", "arguments": {"text": "x"}, "calls": 500, "warmup": 20}
    -> {"durations_ns": [...]}        (one entry per timed call)
    {"tool": "slow", "arguments": {"seconds": 0.01}, "calls": 200, "gather": true}
    -> {"total_ns": N}                 (all calls at once with asyncio.gather)

An empty line or end of input closes the session and the server, and the worker exits.
Staying up between requests lets the benchmark alternate the clients round by round,
every one of them warm.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

Call = Callable[[str, dict[str, Any]], Awaitable[Any]]


@contextlib.asynccontextmanager
async def _sdk_caller(server_cmd: list[str]) -> AsyncIterator[Call]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=server_cmd[0], args=server_cmd[1:])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.list_tools()
        yield session.call_tool


@contextlib.asynccontextmanager
async def _toolbox_caller(server_cmd: list[str]) -> AsyncIterator[Call]:
    from toolkernel.session import Toolbox

    with tempfile.TemporaryDirectory(prefix="tkb-toolbox-") as tmp:
        config = Path(tmp) / "mcp.json"
        entry = {"command": server_cmd[0], "args": server_cmd[1:]}
        config.write_text(json.dumps({"mcpServers": {"echo": entry}}), encoding="utf-8")
        box = Toolbox(home=Path(tmp) / "home", config_path=config)
        box.start()
        try:
            await box.wait_for_servers(60)
            echo = box.namespace.echo  # the generated module, as `tools.echo` in a kernel

            async def call(tool: str, arguments: dict[str, Any]) -> Any:
                return await getattr(echo, tool)(**arguments)

            yield call
        finally:
            box.stop()


async def _serve(server_cmd: list[str], via: str, timeout: float) -> None:
    opener = _toolbox_caller if via == "toolbox" else _sdk_caller
    async with asyncio.timeout(timeout):
        context = opener(server_cmd)
        call = await context.__aenter__()
    try:
        async with asyncio.timeout(timeout):
            await call("echo", {"text": "warm"})
        _emit({"ready": True})
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                return
            async with asyncio.timeout(timeout):
                _emit(await _run(call, json.loads(line)))
    finally:
        await context.__aexit__(None, None, None)


async def _run(call: Call, request: dict[str, Any]) -> dict[str, Any]:
    tool, arguments = request["tool"], request["arguments"]
    for _ in range(request.get("warmup", 0)):
        await call(tool, arguments)
    if request.get("gather"):
        start = time.perf_counter_ns()
        await asyncio.gather(*(call(tool, arguments) for _ in range(request["calls"])))
        return {"total_ns": time.perf_counter_ns() - start}
    durations = []
    for _ in range(request["calls"]):
        start = time.perf_counter_ns()
        await call(tool, arguments)
        durations.append(time.perf_counter_ns() - start)
    return {"durations_ns": durations}


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-cmd", required=True, type=json.loads)
    parser.add_argument("--via", choices=["sdk", "toolbox"], default="sdk")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on each request")
    args = parser.parse_args()
    asyncio.run(_serve(args.server_cmd, args.via, args.timeout))


if __name__ == "__main__":
    main()
