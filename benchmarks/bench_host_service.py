"""Per-call cost of the tool host as a service (`toolkernel host` over a Unix socket).

Run: `.venv/bin/python benchmarks/bench_host_service.py [--quick] [--calls 500] [--rounds 5]`

Three ways to call the same echo server's `echo(text="x")`, side by side in one run,
from one asyncio loop in this process, alternated round by round:

- raw SDK: one `ClientSession.call_tool` over `stdio_client` (the floor);
- in-process host: `ToolHost.call` (the plain kernel's host: a thread of this process);
- remote host: `RemoteToolHost.call` to a `toolkernel host` process on a Unix socket
  (the sandboxed kernel's host: a socket hop and a second process on the way).

Each call is timed alone. Within a round the sides are interleaved in blocks of
`--block` calls (the order rotating block by block), so a slow spell of a shared machine
lands on every side alike; the tables report each side's p50 and p90 (medians over the
rounds) and the ratios to the raw SDK. Goal: the remote host's p50 <= 1.5x the raw SDK's
(issue 17's per-call goal for the sandboxed kernel, of which this is the host's share).
The last line is one JSON object of the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from _bench_support import PYTHON, SERVERS, median, summary, write_config
from _quick import add_quick_flag, apply_quick
from _report import latency_table, print_table

GOAL_RATIO = 1.5
TOOLKERNEL = str(Path(PYTHON).parent / "toolkernel")
ECHO = {"command": PYTHON, "args": [str(SERVERS / "echo_server.py")]}
Call = Callable[[], Awaitable[Any]]


@contextlib.asynccontextmanager
async def raw_sdk() -> AsyncIterator[Call]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=ECHO["command"], args=ECHO["args"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.list_tools()
        yield lambda: session.call_tool("echo", {"text": "x"})


@contextlib.asynccontextmanager
async def in_process(work: Path) -> AsyncIterator[Call]:
    from toolkernel.config import parse_config
    from toolkernel.host import ToolHost
    from toolkernel.registry import ToolRegistry

    registry = ToolRegistry(work / "home-local")
    host = ToolHost(
        parse_config({"mcpServers": {"echo": ECHO}}), registry=registry, logs_dir=work / "logs"
    )
    host.start()
    try:
        await host.statuses(settle=60)
        yield lambda: host.call("echo.echo", {"text": "x"})
    finally:
        await asyncio.to_thread(host.stop)
        registry.close()


@contextlib.asynccontextmanager
async def remote(work: Path) -> AsyncIterator[Call]:
    from toolkernel.host import RemoteToolHost
    from toolkernel.registry import ToolRegistry

    config = write_config(work / "mcp.json", {"echo": ECHO})
    folder = Path(tempfile.mkdtemp(prefix="tkb-host-"))
    socket = folder / "host.sock"
    home = work / "home-remote"
    argv = [TOOLKERNEL, "--home", str(home), "host", "--socket", str(socket)]
    proc = await asyncio.create_subprocess_exec(
        *argv, "--config", str(config), stderr=subprocess.DEVNULL
    )
    registry = ToolRegistry(home)
    client = RemoteToolHost({}, registry=registry, socket_path=socket, connect_timeout=60)
    client.start()
    try:
        [status] = await client.statuses(settle=60)
        if status.state != "connected":
            msg = f"echo did not connect through the host: {status.detail}"
            raise RuntimeError(msg)
        yield lambda: client.call("echo.echo", {"text": "x"})
    finally:
        await asyncio.to_thread(client.stop)
        registry.close()
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        shutil.rmtree(folder, ignore_errors=True)


async def timed(call: Call, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


async def interleaved(sides: dict[str, Call], calls: int, block: int) -> dict[str, list[float]]:
    """`calls` timed calls of each side, in blocks, the sides' order rotating per block."""
    names = list(sides)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(max(1, calls // block)):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name] += await timed(sides[name], block)
    return samples


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tkb-hostsvc-") as tmp:
        work = Path(tmp)
        async with raw_sdk() as sdk, in_process(work) as local, remote(work) as far:
            sides = {"raw SDK": sdk, "in-process host": local, "remote host": far}
            for call in sides.values():
                await timed(call, args.warmup)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
            for _ in range(args.rounds):
                found = await interleaved(sides, args.calls, min(args.block, args.calls))
                for name, samples in found.items():
                    rounds[name].append(summary(samples))
    return {
        name: {key: median([r[key] for r in found]) for key in ("p50", "p90")}
        for name, found in rounds.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per side per round")
    parser.add_argument("--block", type=int, default=50, help="calls in a row of one side")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls of each side first")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the medians are over them)")
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"calls": 50, "block": 10, "warmup": 5, "rounds": 1})
    sides = asyncio.run(measure(args))
    latency_table(f"echo(text='x'), {args.calls} calls x {args.rounds} round(s)", sides)
    floor = sides["raw SDK"]["p50"]
    ratios = {name: side["p50"] / floor for name, side in sides.items()}
    print_table(
        "p50 against the raw SDK",
        ["path", "ratio", "added ms"],
        [[name, f"{ratios[name]:.2f}x", side["p50"] - floor] for name, side in sides.items()],
    )
    met = ratios["remote host"] <= GOAL_RATIO
    goal = f"remote tool host per-call p50 <= {GOAL_RATIO:g}x raw SDK"
    print(f"\ngoal: {goal}: {ratios['remote host']:.2f}x, {'pass' if met else 'FAIL'}")
    results = {
        "bench": "host_service",
        "calls": args.calls,
        "rounds": args.rounds,
        "p50_ms": {name: side["p50"] for name, side in sides.items()},
        "p90_ms": {name: side["p90"] for name, side in sides.items()},
        "ratio_p50": ratios,
        "goals": [{"goal": goal, "value_ratio": ratios["remote host"], "met": met}],
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
