"""Time agent-codemode's MCP server: ``execute_code`` of ``x = 1`` over stdio.

Two roles in one file:
  * client (default; run with /work/main/.venv/bin/python, mcp 2.3.0): starts
    ``<peer python> agent_codemode_server.py --serve --server-cmd ...`` over stdio,
    calls ``execute_code`` with ``x = 1`` from a real ``ClientSession``, prints
    one JSON object with p50/mean ms. ``--probe-tool-call`` also sends one
    ``execute_code`` whose code calls ``echo`` (bounded; the default path
    deadlocks there too).
  * ``--serve`` (run inside the peer venv): agent-codemode's own server via its
    public API, ``configure_server(config, registry)`` + ``run_server("stdio")``,
    with the echo server registered. ``python -m agent_codemode.server`` takes
    no server list, so this launcher is the documented way to configure one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

SERVER_NAME = "bench"
THIS = Path(__file__).resolve()
HERE = THIS.parent


def serve(args) -> None:
    from agent_codemode import (
        CodeModeConfig,
        MCPServerConfig,
        ToolRegistry,
        configure_server,
        run_server,
    )

    work = args.workdir or tempfile.mkdtemp(prefix="acm-srv-")
    registry = ToolRegistry()
    cmd = args.server_cmd
    registry.add_server(MCPServerConfig(name=SERVER_NAME, command=cmd[0], args=cmd[1:]))
    config = CodeModeConfig(
        generated_path=str(Path(work) / "generated"),
        skills_path=str(Path(work) / "skills"),
        workspace_path=str(Path(work) / "workspace"),
    )
    configure_server(config=config, registry=registry)
    run_server("stdio")  # runs discover_all before serving


async def client(args) -> dict:
    import anyio
    from _venv import ensure_peer_venv  # benchmarks/peers on sys.path (script dir)
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    peer_py = args.peer_python or str(ensure_peer_venv("agent-codemode", [args.requirement]))
    workdir = tempfile.TemporaryDirectory(prefix="acm-srv-")
    params = StdioServerParameters(
        command=peer_py,
        args=[
            str(THIS),
            "--serve",
            "--server-cmd",
            json.dumps(args.server_cmd),
            "--workdir",
            workdir.name,
        ],
        cwd=workdir.name,
    )

    async def execute(s, code, limit_s):
        res = await s.call_tool("execute_code", {"code": code}, read_timeout_seconds=limit_s)
        return json.loads(res.content[0].text)

    out: dict = {"peer": "agent-codemode-server", "code": "x = 1"}
    with workdir, anyio.fail_after(args.timeout):
        t = time.perf_counter()
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            tools = await s.list_tools()
            out["server_tools"] = sorted(t_.name for t_ in tools.tools)
            out["connect_initialize_list_s"] = time.perf_counter() - t
            t = time.perf_counter()
            first = await execute(s, "x = 1", 60)  # runs executor.setup()
            out["first_execute_ms"] = (time.perf_counter() - t) * 1000
            if not first.get("success"):
                msg = f"execute_code failed: {first}"
                raise RuntimeError(msg)
            for _ in range(args.warmup):
                await execute(s, "x = 1", 30)
            times = []
            for _ in range(args.calls):
                t = time.perf_counter()
                r_ = await execute(s, "x = 1", 30)
                times.append((time.perf_counter() - t) * 1000)
            assert r_.get("success"), r_
            out.update(
                calls=args.calls,
                execute_code_ms_p50=statistics.median(times),
                execute_code_ms_mean=statistics.fmean(times),
                execute_code_ms_p90=statistics.quantiles(times, n=10)[-1],
            )
            if args.probe_tool_call:
                code = (
                    f"from generated.mcp.{SERVER_NAME} import echo\n"
                    "r = await echo(text='hello')\nprint(r)"
                )
                t = time.perf_counter()
                try:
                    res = await execute(s, code, args.probe_timeout)
                    out["tool_call_via_server"] = {
                        "deadlocked": False,
                        "elapsed_s": time.perf_counter() - t,
                        "result": res,
                    }
                except Exception as e:  # the SDK raises on read timeout
                    out["tool_call_via_server"] = {
                        "deadlocked": True,
                        "detail": f"no answer in {args.probe_timeout} s: {type(e).__name__}: {e}",
                    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--server-cmd",
        type=json.loads,
        default=None,
        help="JSON list: stdio MCP server with echo(text)",
    )
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--workdir", default=None, help="--serve: where bindings are generated")
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--requirement", default="agent-codemode==1.1.1")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--probe-tool-call", action="store_true")
    ap.add_argument("--probe-timeout", type=float, default=10.0)
    args = ap.parse_args()
    if args.server_cmd is None:
        args.server_cmd = [sys.executable, str(HERE / "_echo_server.py")]
    if args.serve:
        serve(args)
        return
    import anyio

    print(json.dumps(anyio.run(client, args)), flush=True)


if __name__ == "__main__":
    main()
