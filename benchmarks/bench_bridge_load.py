"""Load on one HTTP bridge: many concurrent MCP sessions, each with its own kernel.

Run: `.venv/bin/python benchmarks/bench_bridge_load.py [--quick] [--sessions 50]
[--calls 20] [--pool-size 2] [--max-sessions 50]`

One `toolkernel mcp --transport http` process serves `--sessions` real `ClientSession`
clients at once (streamable HTTP); each opens its session (which takes a kernel from
the bridge's warm pool, or waits for one to start), then runs `--calls` `execute_code`
calls one after another (`x = <n>`), each timed alone. Reported:

- p50 / p90 / p99 / max latency of those calls, over all sessions;
- session open time (initialize to the first reply, which includes waiting for a kernel);
- kernel start times (the bridge's own measure, from `/status`), the pool's first fill,
  and its refill after the load (until `--pool-size` kernels are ready again);
- memory per kernel while every session is open: RSS and PSS of the kernel process
  alone, and of the kernel with the MCP servers it started;
- sessions refused (over `--max-sessions`: they get a 503 at once, never a hang).

Sizes fit a 2-core machine: the bridge starts at most max(CPUs, 2) kernels at once, so
kernel starts queue rather than thrash, and the open times grow with the session count.
With more cores, starts run wider (open times shrink roughly with the core count) and
the per-call latency stays near one kernel's round trip until the cores are busy. The
last line is one JSON object of the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import psutil
from _bench_support import PYTHON, SERVERS, kernel_env, write_config
from _processes import end_processes
from _quick import add_quick_flag, apply_quick
from _report import print_table

TOOLKERNEL = str(Path(PYTHON).parent / "toolkernel")
TOKEN = "bench-load-token"  # noqa: S105 - a throwaway token for a loopback bridge
READY_WAIT_S = 600.0


@contextlib.contextmanager
def bridge(work: Path, args: argparse.Namespace) -> Iterator[tuple[str, psutil.Process]]:
    """A bridge process with a fresh home and the echo server; yields its URL and process."""
    config = write_config(
        work / "mcp.json",
        {"echo": {"command": PYTHON, "args": [str(SERVERS / "echo_server.py")]}},
    )
    env = {**kernel_env(work / "home", config), "TOOLKERNEL_BRIDGE_TOKEN": TOKEN}
    argv = [TOOLKERNEL, "mcp", "--transport", "http", "--port", "0"]
    argv += ["--pool-size", str(args.pool_size), "--max-sessions", str(args.max_sessions)]
    proc = subprocess.Popen(argv, env=env, cwd=work, stderr=subprocess.PIPE, text=True)
    process = psutil.Process(proc.pid)
    try:
        yield _serving_url(proc), process
    finally:
        left = process.children(recursive=True)
        proc.terminate()
        proc.wait(timeout=60)
        end_processes(left)


def _serving_url(proc: subprocess.Popen[str]) -> str:
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:  # to the end, so the bridge never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 120
    while (line := lines.get(timeout=max(deadline - time.monotonic(), 0.01))) is not None:
        if "serving streamable HTTP at " in line:
            return line.rsplit(" at ", 1)[1].strip()
    msg = "the bridge exited before serving"
    raise RuntimeError(msg)


def status(url: str) -> dict[str, Any]:
    """The bridge's `/status`: open sessions and the pool's numbers."""
    response = httpx2.get(
        url.removesuffix("/mcp") + "/status",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def wait_pool_ready(url: str, size: int) -> float:
    """Seconds until the pool holds `size` ready kernels (polled, bounded)."""
    started = time.monotonic()
    while status(url)["pool"]["ready"] < size:
        if time.monotonic() - started > READY_WAIT_S:
            msg = f"the pool did not fill to {size} within {READY_WAIT_S:.0f} s"
            raise RuntimeError(msg)
        time.sleep(0.05)  # polling interval
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def client(url: str) -> AsyncIterator[Any]:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(60.0, read=600.0)
    )
    async with (
        http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class Load:
    """The sessions' shared record, and the gate that holds them open for the memory probe."""

    def __init__(self, sessions: int) -> None:
        self.latencies_ms: list[float] = []
        self.open_s: list[float] = []
        self.refused: list[str] = []
        self.failed: list[str] = []
        self._left = sessions
        self.all_done = asyncio.Event()
        self.release = asyncio.Event()

    def done(self) -> None:
        self._left -= 1
        if self._left == 0:
            self.all_done.set()


async def one_session(url: str, n: int, calls: int, load: Load) -> None:
    from mcp.shared.exceptions import MCPError

    try:
        started = time.perf_counter()
        async with client(url) as session:
            for i in range(calls):
                t0 = time.perf_counter()
                result = await session.call_tool("execute_code", {"code": f"x = {n * calls + i}"})
                elapsed = time.perf_counter() - t0
                if i == 0:
                    load.open_s.append(time.perf_counter() - started)
                else:  # the first call waited for the session's kernel: not a call's cost
                    load.latencies_ms.append(elapsed * 1000)
                if result.is_error:
                    load.failed.append(str(result.content))
            load.done()
            await load.release.wait()
    except Exception as exc:  # each session's outcome is counted, not raised
        leaves = _leaves(exc)
        if any(isinstance(leaf, MCPError) for leaf in leaves):
            load.refused.extend(str(leaf) for leaf in leaves if isinstance(leaf, MCPError))
        else:
            load.failed.extend(repr(leaf) for leaf in leaves)
        if not load.all_done.is_set():
            load.done()


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def kernel_memory(bridge_process: psutil.Process) -> dict[str, Any]:
    """RSS and PSS (MiB) per kernel: its process alone, and with the servers it started."""
    alone: list[tuple[float, float]] = []
    tree: list[tuple[float, float]] = []
    for kernel in bridge_process.children():
        with contextlib.suppress(psutil.Error):
            procs = [kernel, *kernel.children(recursive=True)]
            sizes = [_rss_pss(p) for p in procs]
            alone.append(sizes[0])
            tree.append((sum(s[0] for s in sizes), sum(s[1] for s in sizes)))
    mib = 1024 * 1024

    def med(values: list[tuple[float, float]], i: int) -> float:
        return statistics.median(v[i] for v in values) / mib if values else 0.0

    return {
        "kernels": len(alone),
        "kernel_rss_mib": med(alone, 0),
        "kernel_pss_mib": med(alone, 1),
        "with_servers_rss_mib": med(tree, 0),
        "with_servers_pss_mib": med(tree, 1),
        "bridge_rss_mib": _rss_pss(bridge_process)[0] / mib,
    }


def _rss_pss(process: psutil.Process) -> tuple[float, float]:
    info = process.memory_full_info()
    return float(info.rss), float(getattr(info, "pss", info.rss))


async def drive(url: str, args: argparse.Namespace, bridge_process: psutil.Process) -> Any:
    load = Load(args.sessions)
    started = time.monotonic()
    tasks = [
        asyncio.create_task(one_session(url, n, args.calls, load)) for n in range(args.sessions)
    ]
    await asyncio.wait_for(load.all_done.wait(), READY_WAIT_S)
    wall_s = time.monotonic() - started
    memory = await asyncio.to_thread(kernel_memory, bridge_process)
    load.release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return load, wall_s, memory


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="concurrent MCP sessions")
    parser.add_argument("--calls", type=int, default=20, help="execute_code calls per session")
    parser.add_argument("--pool-size", type=int, default=2, help="the bridge's warm pool")
    parser.add_argument(
        "--max-sessions", type=int, default=50, help="the bridge's session limit (0: none)"
    )
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"sessions": 4, "calls": 3, "max_sessions": 3})
    with (
        tempfile.TemporaryDirectory(prefix="tk-bench-load-") as tmp,
        bridge(Path(tmp), args) as (url, bridge_process),
    ):
        fill_s = wait_pool_ready(url, args.pool_size)
        load, wall_s, memory = asyncio.run(drive(url, args, bridge_process))
        after = status(url)
        refill_s = wait_pool_ready(url, args.pool_size)
        pool = status(url)["pool"]
    measures = {"wall_s": wall_s, "fill_s": fill_s, "refill_s": refill_s}
    return report(args, load, measures=measures, memory=memory, after=after, pool=pool)


def report(
    args: argparse.Namespace,
    load: Load,
    *,
    measures: dict[str, float],
    memory: dict[str, Any],
    after: dict[str, Any],
    pool: dict[str, Any],
) -> int:
    wall_s, fill_s, refill_s = measures["wall_s"], measures["fill_s"], measures["refill_s"]
    lat = load.latencies_ms
    starts = pool["start_s"]
    served = len(load.open_s)
    print_table(
        f"{args.sessions} concurrent sessions x {args.calls} execute_code('x = n'), one "
        f"HTTP bridge (pool {args.pool_size}, max_sessions {args.max_sessions}), "
        f"{wall_s:.1f} s wall",
        ["measure", "value"],
        [
            ["call p50, ms", pct(lat, 0.5)],
            ["call p90, ms", pct(lat, 0.9)],
            ["call p99, ms", pct(lat, 0.99)],
            ["call max, ms", max(lat, default=0.0)],
            ["calls timed (each session's first is in open time)", len(lat)],
            ["session open -> first reply p50, s", pct(load.open_s, 0.5)],
            ["session open -> first reply max, s", max(load.open_s, default=0.0)],
            ["kernel start p50, s", pct(starts, 0.5)],
            ["kernel start max, s", max(starts, default=0.0)],
            [f"pool first fill to {args.pool_size}, s", fill_s],
            [f"pool refill to {args.pool_size} after the load, s", refill_s],
            ["kernel RSS, MiB (median)", memory["kernel_rss_mib"]],
            ["kernel PSS, MiB (median)", memory["kernel_pss_mib"]],
            ["kernel + its MCP servers, PSS MiB", memory["with_servers_pss_mib"]],
            ["bridge process RSS, MiB", memory["bridge_rss_mib"]],
            ["sessions served", served],
            ["sessions refused (503, at once)", len(load.refused)],
            ["calls or sessions failed", len(load.failed)],
        ],
    )
    if load.refused:
        print(f"  a refusal said: {load.refused[0]}")
    for failure in load.failed[:3]:
        print(f"  failed: {failure[:300]}")
    results = {
        "bench": "bridge_load",
        "sessions": args.sessions,
        "calls": args.calls,
        "pool_size": args.pool_size,
        "max_sessions": args.max_sessions,
        "wall_s": wall_s,
        "call_ms": {
            "p50": pct(lat, 0.5),
            "p90": pct(lat, 0.9),
            "p99": pct(lat, 0.99),
            "max": max(lat, default=0.0),
        },
        "open_s": {"p50": pct(load.open_s, 0.5), "max": max(load.open_s, default=0.0)},
        "kernel_start_s": {"p50": pct(starts, 0.5), "max": max(starts, default=0.0)},
        "pool_fill_s": fill_s,
        "pool_refill_s": refill_s,
        "pool": {k: v for k, v in pool.items() if k not in ("start_s", "wait_s")},
        "sessions_open_after": after["sessions"],
        "memory_mib": memory,
        "served": served,
        "refused": len(load.refused),
        "failed": len(load.failed),
    }
    print(json.dumps(results))
    return 1 if load.failed else 0


if __name__ == "__main__":
    sys.exit(main())
