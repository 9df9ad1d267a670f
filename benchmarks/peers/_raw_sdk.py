"""Baseline: the raw mcp SDK (``ClientSession`` over ``stdio_client``).

Run with /work/main/.venv/bin/python (mcp 2.3.0). Prints one JSON object.
  --mode calls: per-call latency of ``call_tool("echo")`` after a warm-up.
  --mode list:  process start -> initialize + ``list_tools`` done (the raw
                floor under any "bindings ready" time on the same server).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

T_SCRIPT = time.perf_counter()


def process_age_s() -> float | None:
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return float(Path("/proc/uptime").read_text().split()[0]) - start / ticks
    except Exception:
        return None


async def run(args) -> dict:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    import_s = time.perf_counter() - T_SCRIPT
    cmd = args.server_cmd
    params = StdioServerParameters(command=cmd[0], args=cmd[1:])
    out: dict = {"peer": "raw-mcp-sdk"}
    with anyio.fail_after(args.timeout):
        t = time.perf_counter()
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            tools = await s.list_tools()
            list_s = time.perf_counter() - t
            if args.mode == "list":
                age = process_age_s()
                out.update(
                    tools=len(tools.tools),
                    list_ready_s=round(age, 3)
                    if age is not None
                    else time.perf_counter() - T_SCRIPT,
                    list_ready_in_script_s=time.perf_counter() - T_SCRIPT,
                    import_mcp_client_s=import_s,
                    connect_initialize_list_s=list_s,
                )
                return out
            for _ in range(args.warmup):
                await s.call_tool("echo", {"text": "hello"})
            times = []
            for _ in range(args.calls):
                t = time.perf_counter()
                res = await s.call_tool("echo", {"text": "hello"})
                times.append((time.perf_counter() - t) * 1000)
            assert res.content[0].text == "hello", res
    from importlib.metadata import version

    out.update(
        mcp_version=version("mcp"),
        calls=args.calls,
        per_call_ms_p50=statistics.median(times),
        per_call_ms_mean=statistics.fmean(times),
        per_call_ms_p90=statistics.quantiles(times, n=10)[-1],
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-cmd", required=True, type=json.loads)
    ap.add_argument("--mode", choices=["calls", "list"], default="calls")
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    import anyio

    print(json.dumps(anyio.run(run, args)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
