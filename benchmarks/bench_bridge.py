"""Round trip of `execute_code("x = 1")` through `toolkernel mcp` (stdio) to a warm kernel.

Every side is timed from a real `mcp` `ClientSession` over stdio in this one process, and
the sides run alternately, round by round (the machine is small and shared); tables show
the median over rounds of each round's p50 / p95.

- toolkernel: `.venv/bin/toolkernel mcp` with `TOOLKERNEL_HOME` in a temp dir and an empty
  `mcp.json` (`TOOLKERNEL_MCP_CONFIG`), so no tool servers. A `PYTHONPATH` in this
  process's environment is passed on (a worktree's checkout over the venv's install).
- agent-codemode's MCP server: `peers/agent_codemode_server.py --serve` in its own venv.
- jupyter-mcp-server: `peers/jupyter_mcp_peer.py` (its own venv, a local `jupyter lab`
  with a token): `execute_code` as an agent calls it, the same with
  `progress_interval=1` (its shortest poll), and `insert_execute_code_cell`. Fewer
  calls (each takes about 1 s).
- Context: the raw kernel round trip through `jupyter_client` alone
  (`AsyncKernelClient.execute` until idle, then the reply), on a toolkernel kernel started
  with the bridge's own command line (`bridge_kernel_arguments`) and on a stock `python3`
  kernel, which bounds any bridge; and the MCP SDK's own floor, `call_tool("echo")` on a
  Python `MCPServer`.

Goals (issue 18), from the same rounds: the bridge's p50 at or below agent-codemode's, and
the bridge at most 1 ms over the raw round trip to the same kind of kernel (idle + reply).
The first table says both, with the bridge's CPU per call.

When a goal is missed (or with `--profile always`), more rounds run beside the plain
bridge and raw kernel:
- a traced bridge: this file's `--serve-traced` role wraps `toolkernel mcp` (product
  code untouched) with timestamps at every boundary, and the report splits one call into
  client, stdio transport, MCP dispatch, kernel and reply. Clocks: `perf_counter`
  (CLOCK_MONOTONIC, shared by processes) and, for the kernel, its messages' timestamps;
- before/after: a raw kernel started with ipykernel's own per-execute settings
  (`IPYKERNEL_DEFAULTS`: the 0.5 ms sleep before each reply, flushes that always wait for
  the IOPub thread, input history written to SQLite), to show what the kernel's own
  settings save.

`--json-block` ends with indented JSON instead of one line (what `run_all.py` parses).
`--quick`: every side, both peers and the profile, at tiny sizes (one round of 20 calls, 2
jupyter-mcp-server calls, one profile round).

Exit status 1 when a side that ran failed, or when a peer venv could not be built from
PyPI; in quick mode a peer that could not be installed is reported as skipped instead.

Run: .venv/bin/python benchmarks/bench_bridge.py [--rounds 5] [--calls 200]
         [--jms-calls 10] [--skip agent-codemode jupyter-mcp-server]
         [--profile auto|always|never] [--json-block] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

THIS = Path(__file__).resolve()
BENCH = THIS.parent
REPO = BENCH.parent
PEERS = BENCH / "peers"
sys.path.insert(0, str(PEERS))

from _processes import end_processes  # noqa: E402
from _quick import add_quick_flag, apply_quick  # noqa: E402
from _report import print_table  # noqa: E402

PYTHON = sys.executable
TOOLKERNEL = Path(PYTHON).parent / "toolkernel"
ECHO_SERVER = PEERS / "_echo_server.py"
GOAL_MS = 3.0
"""The earlier absolute goal, still printed."""
OVER_RAW_GOAL_MS = 1.0
"""The bridge's p50 may exceed the raw jupyter_client round trip by this much."""
CODE = "x = 1"
SETUP_TIMEOUT = 180.0
ROUND_TIMEOUT = 300.0


# --------------------------------------------------------------------------- statistics


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Side:
    """One thing timed per round: `once()` is one call, `check()` runs after the clock."""

    key: str
    label: str
    calls: int
    warmup: int
    once: Callable[[], Awaitable[Any]]
    check: Callable[[Any], None] = lambda _: None
    pids: dict[str, int] = field(default_factory=dict)
    secondary: Callable[[Any, float], float] | None = None
    """From one call's result and start time, a second time in ms (the raw kernel's idle)."""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    marks: list[tuple[float, float]] | None = None
    """When a list, every call's (start, end) perf_counter, warm-ups included."""

    def summary(self, first: int = 0) -> dict[str, Any]:
        """Medians over rounds `first`.. (the profile phase re-runs some sides)."""
        rounds = self.rounds[first:]
        out: dict[str, Any] = {
            "label": self.label,
            "calls_per_round": self.calls,
            "rounds": len(rounds),
            "p50_ms": med([r["p50"] for r in rounds]),
            "p95_ms": med([r["p95"] for r in rounds]),
            "mean_ms": med([r["mean"] for r in rounds]),
            "min_ms": min(r["min"] for r in rounds),
            "per_round_p50_ms": [round(r["p50"], 3) for r in rounds],
        }
        if self.secondary is not None:
            out["secondary_p50_ms"] = med([r["p50_2"] for r in rounds])
            out["secondary_p95_ms"] = med([r["p95_2"] for r in rounds])
        out["cpu_ms_per_call"] = {
            name: med([r["cpu"][name] for r in rounds]) for name in rounds[0]["cpu"]
        }
        return out


def _cpu(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return float("nan")
    return times.user + times.system


async def _call(side: Side) -> tuple[float, float, Any]:
    started = time.perf_counter()
    result = await side.once()
    ended = time.perf_counter()
    if side.marks is not None:
        side.marks.append((started, ended))
    side.check(result)
    return started, ended, result


async def run_round(side: Side) -> dict[str, Any]:
    import anyio

    with anyio.fail_after(ROUND_TIMEOUT):
        for _ in range(side.warmup):
            await _call(side)
        pids = {**side.pids, "client (this process)": os.getpid()}
        before = {name: _cpu(pid) for name, pid in pids.items()}
        times, seconds = [], []
        for _ in range(side.calls):
            started, ended, result = await _call(side)
            times.append((ended - started) * 1000)
            if side.secondary is not None:
                seconds.append(side.secondary(result, started))
        after = {name: _cpu(pid) for name, pid in pids.items()}
    row: dict[str, Any] = {
        "p50": med(times),
        "p95": p95(times),
        "mean": statistics.fmean(times),
        "min": min(times),
        "cpu": {name: (after[name] - before[name]) * 1000 / side.calls for name in pids},
    }
    if seconds:
        row["p50_2"], row["p95_2"] = med(seconds), p95(seconds)
    side.rounds.append(row)
    return row


# --------------------------------------------------------------------------- sides


def _new_children(before: set[int]) -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.pid not in before]


def _child_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children()}


async def _stdio_session(
    stack: AsyncExitStack, params: Any, errlog_path: Path
) -> tuple[Any, psutil.Process]:
    """Start a stdio server, initialize, list its tools; return the session and its process."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    errlog = stack.enter_context(errlog_path.open("w", encoding="utf-8"))
    before = _child_pids()
    read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
    session = await stack.enter_async_context(ClientSession(read, write))
    with anyio.fail_after(SETUP_TIMEOUT):
        await session.initialize()
        await session.list_tools()
    new = _new_children(before)
    if len(new) != 1:
        msg = f"expected one new server process, found {[p.pid for p in new]}"
        raise RuntimeError(msg)
    return session, new[0]


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def _expect_ok(result: Any) -> None:
    if result.is_error:
        msg = f"tool error: {_text(result)[:500]}"
        raise RuntimeError(msg)


def toolkernel_env(tmp: Path, name: str) -> dict[str, str]:
    """Its own `TOOLKERNEL_HOME` and `TMPDIR` (the bridge's ipc socket dir lands there and
    goes with the run), and an mcp.json with no servers."""
    config = tmp / "mcp.json"
    if not config.exists():
        config.write_text(json.dumps({"mcpServers": {}}), encoding="utf-8")
    scratch = tmp / name / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    env = {
        "IPYTHONDIR": str(tmp / name / "ipython"),
        "TOOLKERNEL_HOME": str(tmp / name / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
        "TMPDIR": str(scratch),
    }
    if "PYTHONPATH" in os.environ:  # a worktree's checkout, over the venv's install
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


IPYKERNEL_DEFAULTS = [
    "--ToolKernel._execute_sleep=0.0005",
    "--IPKernelApp.outstream_class=ipykernel.iostream.OutStream",
]
"""Before/after only (the profile phase): a toolkernel kernel with ipykernel's own
per-execute settings. With no `bridge_kernel_arguments`, its input history goes to SQLite
(under this run's `IPYTHONDIR`), as ipykernel's does."""


async def setup_toolkernel(
    stack: AsyncExitStack,
    tmp: Path,
    *,
    key: str = "toolkernel",
    label: str = "toolkernel mcp (stdio bridge)",
    traced: Path | None = None,
) -> Side:
    import anyio
    from mcp.client.stdio import StdioServerParameters

    work = tmp / key
    work.mkdir()
    env = toolkernel_env(tmp, key)
    if traced is None:
        params = StdioServerParameters(
            command=str(TOOLKERNEL), args=["mcp"], env=env, cwd=str(work)
        )
    else:
        params = StdioServerParameters(
            command=PYTHON, args=[str(THIS), "--serve-traced", str(traced)], env=env, cwd=str(work)
        )
    session, proc = await _stdio_session(stack, params, work / "stderr.log")
    arguments = {"code": CODE}

    async def once() -> Any:
        return await session.call_tool("execute_code", arguments)

    with anyio.fail_after(SETUP_TIMEOUT):
        _expect_ok(await once())  # the client's first call_tool imports jsonschema
        found = await session.call_tool("execute_code", {"code": "x"})
    if _text(found).strip() != "1":
        msg = f"the bridge's kernel did not keep x: {_text(found)!r}"
        raise RuntimeError(msg)
    kernels = proc.children()
    pids = {"bridge": proc.pid, **({"kernel": kernels[0].pid} if kernels else {})}
    return Side(key, label, 0, 0, once, _expect_ok, pids)


async def setup_raw_kernel(
    stack: AsyncExitStack,
    tmp: Path,
    *,
    key: str = "kernel",
    label: str = "jupyter_client alone, toolkernel kernel",
    kernel_name: str = "toolkernel",
    arguments: list[str] | None = None,
) -> Side:
    """A kernel driven by jupyter_client alone (the same ipc transport as the bridge).

    Its command line ends with `arguments`; by default, what the bridge gives its own.
    """
    import anyio
    from jupyter_client.manager import AsyncKernelManager

    from toolkernel.bridge._session import bridge_kernel_arguments

    sockets = Path(tempfile.mkdtemp(prefix="tk-bench-ipc-"))
    stack.callback(shutil.rmtree, sockets, True)
    manager = AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(sockets / "k"))
    work = tmp / key
    work.mkdir()
    log = stack.enter_context((work / "kernel.log").open("w", encoding="utf-8"))
    env = {**os.environ, **toolkernel_env(tmp, key)}
    if arguments is None:  # the bridge's kernel's command line (input history in memory)
        arguments = bridge_kernel_arguments(manager.kernel_spec)
    with anyio.fail_after(SETUP_TIMEOUT):
        await manager.start_kernel(
            env=env, cwd=str(work), stdout=log, stderr=log, extra_arguments=arguments
        )
    pid: int = manager.provisioner.pid  # type: ignore[union-attr]
    client = manager.client()
    client.start_channels()

    async def stop() -> None:
        client.stop_channels()
        with anyio.fail_after(30, shield=True):
            await manager.shutdown_kernel(now=False)

    stack.push_async_callback(stop)

    async def execute(code: str) -> float:
        msg_id = client.execute(code)
        while True:
            msg = await client.get_iopub_msg(timeout=30)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                idle = time.perf_counter()
                break
        while True:  # keep the shell channel drained, as the bridge does
            reply = await client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            msg = f"raw kernel: {reply['content']}"
            raise RuntimeError(msg)
        return idle

    with anyio.fail_after(SETUP_TIMEOUT):
        await client.wait_for_ready(timeout=60)

    return Side(
        key,
        label,
        0,
        0,
        lambda: execute(CODE),
        pids={"kernel": pid},
        secondary=lambda idle, started: (idle - started) * 1000,
    )


async def setup_echo(stack: AsyncExitStack, tmp: Path) -> Side:
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=PYTHON, args=[str(ECHO_SERVER)], cwd=str(tmp))
    session, proc = await _stdio_session(stack, params, tmp / "echo.log")

    async def once() -> Any:
        return await session.call_tool("echo", {"text": "x"})

    _expect_ok(await once())
    return Side(
        "sdk-echo",
        "mcp SDK floor: call_tool(echo), Python MCPServer",
        0,
        0,
        once,
        _expect_ok,
        {"server": proc.pid},
    )


async def setup_agent_codemode(stack: AsyncExitStack, tmp: Path, python: Path) -> Side:
    """agent-codemode's own MCP server, launched as peers/agent_codemode_server.py does."""
    import agent_codemode_server as acm
    import anyio
    from mcp.client.stdio import StdioServerParameters

    work = tmp / "acm"
    work.mkdir()
    server_cmd = [PYTHON, str(ECHO_SERVER)]
    params = StdioServerParameters(
        command=str(python),
        args=[
            str(acm.THIS),
            "--serve",
            "--server-cmd",
            json.dumps(server_cmd),
            "--workdir",
            str(work),
        ],
        cwd=str(work),
    )
    session, proc = await _stdio_session(stack, params, work / "stderr.log")

    async def once() -> Any:
        return await session.call_tool("execute_code", {"code": CODE})

    def check(result: Any) -> None:
        answer = json.loads(result.content[0].text)
        if not answer.get("success"):
            msg = f"agent-codemode execute_code failed: {answer}"
            raise RuntimeError(msg)

    with anyio.fail_after(SETUP_TIMEOUT):
        check(await once())  # runs executor.setup()
    return Side(
        "agent-codemode",
        "agent-codemode MCP server",
        0,
        0,
        once,
        check,
        {"server": proc.pid},
    )


async def setup_jupyter_mcp(
    stack: AsyncExitStack, tmp: Path, python: Path
) -> tuple[list[Side], dict[str, Any]]:
    import anyio
    import jupyter_mcp_peer as jms
    from mcp.client.stdio import StdioServerParameters

    work = tmp / "jms"
    work.mkdir()
    info: dict[str, Any] = {"versions": jms.versions(python)}
    lab = await anyio.to_thread.run_sync(jms.JupyterLab, python, work)
    stack.callback(lab.stop)
    params = StdioServerParameters(
        command=jms.server_command(python), args=[], env=jms.server_env(lab), cwd=str(work)
    )
    log = work / "mcp-server.log"
    try:
        session, proc = await _stdio_session(stack, params, log)
    except Exception as exc:
        raise RuntimeError(_why("start", exc, log)) from exc

    def call(name: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        async def once() -> Any:
            return await session.call_tool(name, arguments)

        return once

    def check(result: Any) -> None:
        _expect_ok(result)
        text = _text(result)
        if "ERROR" in text or "TIMEOUT" in text:
            msg = f"jupyter-mcp-server: {text[:500]}"
            raise RuntimeError(msg)

    try:
        with anyio.fail_after(SETUP_TIMEOUT):
            started = time.perf_counter()
            check(await call("execute_code", {"code": CODE})())  # starts the kernel
            info["first_execute_code_s"] = time.perf_counter() - started
            found = await call("execute_code", {"code": "x"})()
    except Exception as exc:
        raise RuntimeError(_why("first execute_code", exc, log)) from exc
    if _text(found).strip() != "1":
        msg = f"jupyter-mcp-server's kernel did not keep x: {_text(found)!r}"
        raise RuntimeError(msg)
    kernels = psutil.Process(lab.proc.pid).children(recursive=True)
    pids = {"mcp server": proc.pid, "jupyter lab": lab.proc.pid}
    for kernel in kernels:
        if "ipykernel" in " ".join(kernel.cmdline()):
            pids["kernel"] = kernel.pid
    sides = [
        Side(
            "jms-execute_code",
            "jupyter-mcp-server execute_code (defaults)",
            0,
            0,
            call("execute_code", {"code": CODE}),
            check,
            pids,
        ),
        Side(
            "jms-execute_code-pi1",
            "jupyter-mcp-server execute_code, progress_interval=1",
            0,
            0,
            call("execute_code", {"code": CODE, "progress_interval": 1}),
            check,
            pids,
        ),
        Side(
            "jms-insert_execute_code_cell",
            "jupyter-mcp-server insert_execute_code_cell",
            0,
            0,
            call("insert_execute_code_cell", {"cell_index": -1, "cell_source": CODE}),
            check,
            pids,
        ),
    ]
    return sides, info


def _why(stage: str, exc: BaseException, log: Path) -> str:
    """One line: what failed, and the end of the server's own log (whitespace folded)."""
    detail = str(exc) or f"no answer within {SETUP_TIMEOUT:.0f} s"
    try:
        tail = " ".join(log.read_text(encoding="utf-8", errors="replace").split())[-600:]
    except OSError:
        tail = ""
    return f"{stage}: {type(exc).__name__}: {detail}" + (f"; server log: ...{tail}" if tail else "")


async def guarded(
    stack: AsyncExitStack,
    errors: dict[str, str],
    key: str,
    setup: Callable[[AsyncExitStack], Awaitable[Any]],
) -> Any:
    """Run a peer's setup in its own exit stack; on failure record why and clean up."""

    inner = AsyncExitStack()
    try:
        made = await setup(inner)
    except Exception as exc:
        errors[key] = f"{type(exc).__name__}: {exc or 'no answer in time'}"
        print(f"  {key}: could not be set up: {errors[key]}", flush=True)
        # Not inside a new cancel scope: the contexts on `inner` (stdio_client's task
        # group) must be exited from the scope they were entered in.
        with contextlib.suppress(Exception):
            await inner.aclose()
        return None
    stack.push_async_callback(inner.aclose)
    return made


# --------------------------------------------------------------------------- the traced bridge


def serve_traced(trace_path: str) -> int:
    """`toolkernel mcp`, with a timestamp at every boundary of each `execute_code` call.

    Written to `trace_path`, one JSON line per call, after its reply is flushed.
    Boundaries: a = the bridge has read the request line (its stdin thread with the SDK's
    transport, the event loop with the bridge's own); b = the line is on the event loop;
    c = BridgeServer.call_tool entered; c2 = KernelSession.execute entered; d =
    execute_request sent; e = the cell's messages are collected (its reply and the count
    of messages it says were published, or its idle status); f = KernelSession.execute
    returned; g = call_tool returned; w1 = the reply line goes to be written; w2 = it is
    written (and flushed). busy / reply are the kernel's own message timestamps (wall
    clock), d_wall / e_wall the bridge's wall clock at d / e.
    """
    import anyio
    from anyio import to_thread

    from toolkernel import cli
    from toolkernel.bridge import _expose

    now, wall = time.perf_counter, time.time
    out = Path(trace_path).open("a", encoding="utf-8")  # noqa: SIM115 - open for the process
    state: dict[str, Any] = {"a": None, "rec": None}

    class TracedFile(anyio.AsyncFile):  # type: ignore[type-arg]
        async def readline(self) -> Any:
            def read() -> Any:
                line = self._fp.readline()
                state["a"] = now()
                return line

            line = await to_thread.run_sync(read, limiter=self._limiter)
            state["rec"] = {"a": state["a"], "b": now()}
            return line

        async def write(self, b: Any) -> int:
            rec = state["rec"]
            if rec is not None and "g" in rec and "w1" not in rec:
                rec["w1"] = now()
            return await super().write(b)

        async def flush(self) -> None:
            rec = state["rec"]

            def flush() -> None:
                self._fp.flush()
                if rec is not None and "w1" in rec and "w2" not in rec:
                    rec["w2"] = now()
                    out.write(json.dumps(rec) + "\n")
                    out.flush()

            await to_thread.run_sync(flush, limiter=self._limiter)

    def wrap_file(fp: Any, limiter: Any = None) -> Any:
        return TracedFile(fp, limiter=limiter)

    anyio.wrap_file = wrap_file  # the SDK's stdio transport (the bridge's fallback)

    _trace_own_stdio(state, out, now)

    real_call_tool = _expose.BridgeServer.call_tool

    async def call_tool(self: Any, name: str, arguments: Any, context: Any = None) -> Any:
        rec = state["rec"] if name == "execute_code" else None
        if rec is not None:
            rec["c"] = now()
        result = await real_call_tool(self, name, arguments, context)
        if rec is not None:
            rec["g"] = now()
        return result

    _expose.BridgeServer.call_tool = call_tool  # type: ignore[method-assign]
    _trace_kernel_session(state, now, wall)
    return cli.main(["mcp"])


def _trace_kernel_session(
    state: dict[str, Any], now: Callable[[], float], wall: Callable[[], float]
) -> None:
    """Mark c2, d, e, f and the kernel's busy / reply times in `KernelSession`."""
    from toolkernel.bridge import _session

    real_execute = _session.KernelSession.execute

    async def execute(self: Any, code: str, **kwargs: Any) -> Any:
        rec = state["rec"]
        if rec is not None:
            rec["c2"] = now()
        result = await real_execute(self, code, **kwargs)
        if rec is not None:
            rec["f"] = now()
        return result

    real_send = _session.KernelSession._send_execute

    def send_execute(self: Any, code: str, relay: Any) -> str:
        msg_id: str = real_send(self, code, relay)
        rec = state["rec"]
        if rec is not None:
            rec["d"], rec["d_wall"] = now(), wall()
        return msg_id

    real_absorb, real_published = _session._absorb, _session._published

    async def absorb(msg: dict[str, Any], execution: Any, on_output: Any) -> bool:
        done: bool = await real_absorb(msg, execution, on_output)
        rec = state["rec"]
        if rec is not None and msg["msg_type"] == "status":
            rec[msg["content"]["execution_state"]] = _sent_at(msg)
        return done

    def published(reply: dict[str, Any]) -> int | None:
        rec = state["rec"]
        if rec is not None:
            rec["reply"] = _sent_at(reply)
        return real_published(reply)

    real_collect = _session.KernelSession._collect

    async def collect(self: Any, msg_id: str, out: Any, events: Any) -> None:
        await real_collect(self, msg_id, out, events)
        rec = state["rec"]
        if rec is not None and "e" not in rec:
            rec["e"], rec["e_wall"] = now(), wall()

    _session.KernelSession.execute = execute  # type: ignore[method-assign]
    _session.KernelSession._send_execute = send_execute  # type: ignore[method-assign]
    _session._absorb = absorb
    _session._published = published
    _session.KernelSession._collect = collect  # type: ignore[method-assign]


def _sent_at(msg: dict[str, Any]) -> float:
    """When the kernel made `msg` (its header's date), as a wall-clock timestamp."""
    date = msg["header"]["date"]
    return (datetime.fromisoformat(date) if isinstance(date, str) else date).timestamp()


def _trace_own_stdio(state: dict[str, Any], out: Any, now: Callable[[], float]) -> None:
    """Mark a, b, w1, w2 in the bridge's own stdio transport (it reads on the loop: a = b)."""
    from toolkernel.bridge import _stdio

    real_lines, real_write_all = _stdio._lines, _stdio._write_all

    async def lines(fd: int) -> Any:
        async for line in real_lines(fd):
            state["a"] = now()
            state["rec"] = {"a": state["a"], "b": state["a"]}
            yield line

    async def write_all(fd: int, data: bytes) -> bool:
        rec = state["rec"]
        mark = rec is not None and "g" in rec and "w1" not in rec
        if mark:
            rec["w1"] = now()
        written: bool = await real_write_all(fd, data)
        if mark:
            rec["w2"] = now()
            out.write(json.dumps(rec) + "\n")
            out.flush()
        return written

    _stdio._lines = lines
    _stdio._write_all = write_all


SEGMENTS: list[tuple[str, str, str]] = [
    ("client: call_tool -> line read by the bridge", "t0", "a"),
    ("bridge: stdin thread -> event loop (SDK transport only)", "a", "b"),
    ("bridge: JSON-RPC parse + session dispatch -> call_tool", "b", "c"),
    ("bridge: call_tool -> KernelSession.execute (args, Context)", "c", "c2"),
    ("bridge: execute -> execute_request sent (lock, msg, zmq)", "c2", "d"),
    ("kernel: request sent -> busy (zmq + kernel wake)", "d_wall", "busy"),
    ("kernel: busy -> execute_reply (the kernel's own handling)", "busy", "reply"),
    ("kernel: execute_reply -> the bridge has the cell (shell)", "reply", "e_wall"),
    ("bridge: cell collected -> execute returns", "e", "f"),
    ("bridge: build reply, call_tool returns", "f", "g"),
    ("bridge: result -> JSON line to write", "g", "w1"),
    ("bridge: stdout write (+ flush, 2 thread hops with the SDK's)", "w1", "w2"),
    ("client: line read, parsed, validated, returned", "w2", "t1"),
]


def breakdown(marks: list[tuple[float, float]], trace: Path, skip: int) -> dict[str, Any]:
    records = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    if len(records) != len(marks):
        msg = f"traced bridge: {len(records)} server records for {len(marks)} client calls"
        raise RuntimeError(msg)
    rows = []
    for (t0, t1), rec in list(zip(marks, records, strict=True))[skip:]:
        rows.append({**rec, "t0": t0, "t1": t1})
    segments = []
    for label, start, end in SEGMENTS:
        values = [(r[end] - r[start]) * 1e6 for r in rows if start in r and end in r]
        segments.append(
            {"segment": label, "p50_us": med(values), "p95_us": p95(values) if values else None}
        )
    total = [(r["t1"] - r["t0"]) * 1e6 for r in rows]
    groups = {
        "client + stdio transport (both ends)": [0, 1, 10, 11, 12],
        "bridge: MCP dispatch + reply (event loop)": [2, 3, 9],
        "bridge: kernel client (send, drain reply)": [4, 8],
        "kernel round trip (zmq both ways + kernel)": [5, 6, 7],
    }
    return {
        "calls": len(rows),
        "total_p50_us": med(total),
        "total_p95_us": p95(total),
        "segments": segments,
        "groups_p50_us": {
            name: sum(segments[i]["p50_us"] for i in idx) for name, idx in groups.items()
        },
    }


# --------------------------------------------------------------------------- the run


@dataclass
class Peers:
    acm: Path | None = None
    jms: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)
    """Why a peer's venv could not be built (so it was not measured)."""


def prepare_peers(skip: list[str]) -> Peers:
    """Build (once) the peer venvs before the clock matters; record why one failed."""
    peers = Peers()
    if "agent-codemode" not in skip:
        try:
            from _venv import ensure_peer_venv

            peers.acm = ensure_peer_venv("agent-codemode", ["agent-codemode==1.1.1"])
        except Exception as exc:
            peers.errors["agent-codemode"] = f"venv: {type(exc).__name__}: {exc}"
    if "jupyter-mcp-server" not in skip:
        try:
            import jupyter_mcp_peer

            peers.jms = jupyter_mcp_peer.peer_python()
        except Exception as exc:
            peers.errors["jupyter-mcp-server"] = f"venv: {type(exc).__name__}: {exc}"
    for key, error in peers.errors.items():
        print(f"  {key}: skipped, it could not be installed from PyPI ({error})", flush=True)
    return peers


async def run(args: argparse.Namespace, tmp: Path, peers: Peers) -> dict[str, Any]:
    errors = dict(peers.errors)
    result: dict[str, Any] = {}
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        toolkernel = await setup_toolkernel(stack, tmp)
        raw = await setup_raw_kernel(stack, tmp)
        python3 = await setup_raw_kernel(
            stack,
            tmp,
            key="kernel-python3",
            label="jupyter_client alone, stock python3 kernel",
            kernel_name="python3",
        )
        echo = await setup_echo(stack, tmp)
        sides = [toolkernel, raw, python3, echo]
        for side in sides:
            side.calls, side.warmup = args.calls, 10
        if peers.acm is not None:
            python = peers.acm
            acm = await guarded(
                stack, errors, "agent-codemode", lambda s: setup_agent_codemode(s, tmp, python)
            )
            if acm is not None:
                acm.calls, acm.warmup = args.calls, 10
                sides.append(acm)
        if peers.jms is not None:
            python_jms = peers.jms
            made = await guarded(
                stack,
                errors,
                "jupyter-mcp-server",
                lambda s: setup_jupyter_mcp(s, tmp, python_jms),
            )
            if made is not None:
                jms_sides, result["jupyter_mcp_server_info"] = made
                for n, side in enumerate(jms_sides):
                    side.calls = args.jms_calls if n == 0 else max(3, args.jms_calls // 2)
                    side.warmup = 1
                sides.extend(jms_sides)
        print(f"  all sides up in {time.perf_counter() - started:.1f} s", flush=True)
        await alternate(sides, args.rounds, errors, "round")

        summaries = {side.key: side.summary() for side in sides if side.rounds}
        if "toolkernel" not in summaries:
            msg = f"the toolkernel bridge was not measured: {errors.get('toolkernel')}"
            raise RuntimeError(msg)
        missed = "kernel" not in summaries or not all(g["pass"] for g in goals(summaries))
        if args.profile == "always" or (args.profile == "auto" and missed):
            result["profile"] = await profile(
                stack, tmp, plain=toolkernel, raw=raw, args=args, errors=errors
            )
    result["summaries"] = summaries
    result["errors"] = errors
    return result


async def alternate(sides: list[Side], rounds: int, errors: dict[str, str], name: str) -> None:
    """Run `rounds` rounds of every side, rotating the order; drop a side that fails."""
    for n in range(rounds):
        shift = n % len(sides)
        cells = []
        for side in sides[shift:] + sides[:shift]:
            try:
                row = await run_round(side)
            except Exception as exc:
                errors[side.key] = f"{name} {n + 1}: {type(exc).__name__}: {exc}"
                print(f"  {side.key}: {errors[side.key]}", flush=True)
                sides.remove(side)
                continue
            cells.append(f"{side.key} {row['p50']:.3f}")
        print(f"  {name} {n + 1}/{rounds} p50 ms: " + ", ".join(cells), flush=True)


async def profile(
    stack: AsyncExitStack,
    tmp: Path,
    *,
    plain: Side,
    raw: Side,
    args: argparse.Namespace,
    errors: dict[str, str],
) -> dict[str, Any]:
    """The traced bridge, and a kernel with ipykernel's defaults, beside the plain ones."""
    import anyio

    trace = tmp / "trace.jsonl"
    traced = await setup_toolkernel(
        stack, tmp, key="toolkernel-traced", label="toolkernel bridge, traced", traced=trace
    )
    setup_calls = 2  # setup_toolkernel's own execute_code calls, before marks are kept
    traced.marks = [(0.0, 0.0)] * setup_calls  # placeholders: skipped below
    raw_defaults = await setup_raw_kernel(
        stack,
        tmp,
        key="kernel-ipykernel-defaults",
        label="jupyter_client alone, toolkernel kernel with ipykernel's defaults",
        arguments=IPYKERNEL_DEFAULTS,
    )
    sides = [plain, traced, raw, raw_defaults]
    first = {side.key: len(side.rounds) for side in sides}
    for side in sides:
        side.calls, side.warmup = args.calls, 10
    await alternate(sides, args.profile_rounds, errors, "profile round")
    await anyio.sleep(0.5)  # the last record is written just after its reply is flushed
    split = breakdown(traced.marks, trace, skip=setup_calls)
    split["sides"] = {side.key: side.summary(first[side.key]) for side in sides if side.rounds}
    return split


# --------------------------------------------------------------------------- report


def _raw_json(x: dict[str, Any]) -> dict[str, Any]:
    return {
        "until_idle_p50_ms": x["secondary_p50_ms"],
        "until_idle_p95_ms": x["secondary_p95_ms"],
        "until_reply_p50_ms": x["p50_ms"],
        "until_reply_p95_ms": x["p95_ms"],
        "cpu_ms_per_call": x["cpu_ms_per_call"],
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    s = result["summaries"]
    errors = result["errors"]
    tk = s["toolkernel"]
    base = tk["p50_ms"]

    def row(x: dict[str, Any]) -> list[Any]:
        return [x["label"], x["p50_ms"], x["p95_ms"], x["mean_ms"], x["p50_ms"] / base]

    fast = speed(s)
    best = fast["quietest_round"]
    print_table(
        "Speed (issue 18): execute_code('x = 1') over stdio, the same rounds, ms "
        "(median of round p50s; the lowest round p50, what a quiet machine gives)",
        ["", "median", "lowest"],
        [
            ["toolkernel bridge p50", fast["bridge_p50_ms"], best["bridge_p50_ms"]],
            [
                "agent-codemode MCP server p50",
                fast.get("agent_codemode_p50_ms", "-"),
                best.get("agent_codemode_p50_ms", "-"),
            ],
            [
                "raw jupyter_client p50, same kernel (idle + reply)",
                fast["raw_p50_ms"],
                best["raw_p50_ms"],
            ],
            ["bridge - raw", fast["bridge_minus_raw_ms"], best["bridge_minus_raw_ms"]],
            [
                "bridge - agent-codemode",
                fast.get("bridge_minus_agent_codemode_ms", "-"),
                best.get("bridge_minus_agent_codemode_ms", "-"),
            ],
            ["bridge process CPU per call", fast["bridge_cpu_ms_per_call"], ""],
            ["kernel CPU per call (bridge's kernel)", fast["kernel_cpu_ms_per_call"], ""],
        ],
    )
    headers = ["execute_code('x = 1')", "p50 ms", "p95 ms", "mean ms", "p50 / toolkernel"]
    rows = [row(tk)]
    if "agent-codemode" in s:
        rows.append(row(s["agent-codemode"]))
    print_table(
        f"toolkernel bridge vs agent-codemode's MCP server, stdio ClientSession "
        f"({args.calls} calls/round, {args.rounds} rounds, medians of round p50/p95)",
        headers,
        rows,
    )
    jms_keys = [k for k in s if k.startswith("jms-")]
    if jms_keys:
        print_table(
            f"toolkernel bridge vs jupyter-mcp-server, stdio ClientSession "
            f"({args.jms_calls} / {max(3, args.jms_calls // 2)} calls/round)",
            headers,
            [row(tk), *(row(s[k]) for k in jms_keys)],
        )
    elif "jupyter-mcp-server" in errors:
        print(f"\n  jupyter-mcp-server not measured: {errors['jupyter-mcp-server']}")

    raw, py3, echo = s["kernel"], s.get("kernel-python3"), s["sdk-echo"]
    rows = [
        ["toolkernel mcp: execute_code('x = 1')", tk["p50_ms"], tk["p95_ms"]],
        [f"{raw['label']}: until idle", raw["secondary_p50_ms"], raw["secondary_p95_ms"]],
        [f"{raw['label']}: idle + execute_reply", raw["p50_ms"], raw["p95_ms"]],
    ]
    if py3:
        rows.append(
            [f"{py3['label']}: until idle", py3["secondary_p50_ms"], py3["secondary_p95_ms"]]
        )
    rows += [
        [echo["label"], echo["p50_ms"], echo["p95_ms"]],
        ["bridge - (kernel to reply) - SDK floor", base - raw["p50_ms"] - echo["p50_ms"], ""],
    ]
    print_table("What bounds the bridge (same rounds), ms", ["", "p50 ms", "p95 ms"], rows)
    cpu_rows = []
    for key in ("toolkernel", "kernel", "kernel-python3", "sdk-echo", "agent-codemode"):
        if key in s:
            for name, value in s[key]["cpu_ms_per_call"].items():
                cpu_rows.append([f"{s[key]['label']}: {name}", value])
    print_table("CPU per call (user + system, median of rounds), ms", ["", "ms"], cpu_rows)

    prof = result.get("profile")
    if prof:
        sides = prof["sides"]
        traced, plain = sides.get("toolkernel-traced", {}), sides.get("toolkernel", {})
        rows = [[x["segment"], x["p50_us"], x["p95_us"]] for x in prof["segments"]]
        rows.append(["sum of segment p50s", sum(x["p50_us"] for x in prof["segments"]), ""])
        rows.append(["measured total (traced bridge)", prof["total_p50_us"], prof["total_p95_us"]])
        print_table(
            f"Where one execute_code('x = 1') goes: traced bridge, {prof['calls']} calls "
            f"(its p50 {traced.get('p50_ms', float('nan')):.3f} ms, the plain bridge's "
            f"{plain.get('p50_ms', float('nan')):.3f} ms in the same rounds), us",
            ["segment", "p50 us", "p95 us"],
            rows,
        )
        print_table(
            "Grouped, p50 us",
            ["", "us"],
            [[name, value] for name, value in prof["groups_p50_us"].items()],
        )
        order = ["toolkernel", "kernel", "kernel-ipykernel-defaults"]
        print_table(
            "Before/after, profile rounds: the kernel as the bridge starts it, and with "
            "ipykernel's per-execute defaults (0.5 ms sleep, waiting empty flushes, "
            "history to SQLite), ms",
            ["", "p50 ms", "p95 ms"],
            [
                [sides[k]["label"], sides[k]["p50_ms"], sides[k]["p95_ms"]]
                for k in order
                if k in sides
            ],
        )

    met = goals(s)
    print_table(
        "Goal",
        ["measure", "value", "goal", "result"],
        [[g["name"], g["value"], g["goal"], "pass" if g["pass"] else "FAIL"] for g in met],
    )
    for key, error in errors.items():
        print(f"  {key}: {error}")

    jms: dict[str, Any]
    if jms_keys:
        jms = {k.removeprefix("jms-"): s[k] for k in jms_keys}
        jms.update(result.get("jupyter_mcp_server_info", {}))
    else:
        jms = {"error": errors.get("jupyter-mcp-server", "skipped")}
    return {
        "bench": "bridge",
        "code": CODE,
        "rounds": args.rounds,
        "calls": args.calls,
        "toolkernel": tk,
        "agent_codemode": s.get("agent-codemode")
        or {"error": errors.get("agent-codemode", "skipped")},
        "jupyter_mcp_server": jms,
        "kernel_raw": _raw_json(raw),
        "kernel_raw_python3": _raw_json(py3) if py3 else None,
        "sdk_echo": echo,
        "speed": speed(s),
        "profile": prof,
        "goals": met,
        "errors": errors,
    }


def speed(s: dict[str, Any]) -> dict[str, Any]:
    """The issue's figures, from the same rounds: p50s, the differences, the bridge's CPU.

    The medians of the round p50s, and under `quietest_round` the same from each side's
    lowest round p50 (on a shared machine, the closest to an unloaded one).
    """
    cpu = s["toolkernel"]["cpu_ms_per_call"]
    out = _p50s(s, lambda x: x["p50_ms"])
    out["bridge_cpu_ms_per_call"] = cpu.get("bridge", float("nan"))
    out["kernel_cpu_ms_per_call"] = cpu.get("kernel", float("nan"))
    out["quietest_round"] = _p50s(s, lambda x: min(x["per_round_p50_ms"]))
    return out


def _p50s(s: dict[str, Any], pick: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
    bridge, raw = pick(s["toolkernel"]), pick(s["kernel"])
    out = {"bridge_p50_ms": bridge, "raw_p50_ms": raw, "bridge_minus_raw_ms": bridge - raw}
    if "agent-codemode" in s:
        peer = pick(s["agent-codemode"])
        out["agent_codemode_p50_ms"] = peer
        out["bridge_minus_agent_codemode_ms"] = bridge - peer
    return out


def goals(s: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals met or missed; agent-codemode's only when it was measured."""
    fast = speed(s)
    base, over = fast["bridge_p50_ms"], fast["bridge_minus_raw_ms"]
    met = [
        {
            "name": "bridge execute_code('x = 1') p50, ms",
            "value": base,
            "goal": f"<= {GOAL_MS:g}",
            "pass": base <= GOAL_MS,
        },
        {
            "name": "bridge p50 - raw jupyter_client p50 (same kernel), ms",
            "value": over,
            "goal": f"<= {OVER_RAW_GOAL_MS:g}",
            "pass": over <= OVER_RAW_GOAL_MS,
        },
    ]
    if "agent_codemode_p50_ms" in fast:
        peer = fast["agent_codemode_p50_ms"]
        met.append(
            {
                "name": "bridge p50 - agent-codemode MCP server p50, ms",
                "value": base - peer,
                "goal": "<= 0",
                "pass": base <= peer,
            }
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="calls per round (fast sides)")
    parser.add_argument("--jms-calls", type=int, default=10, help="jupyter-mcp-server calls")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["agent-codemode", "jupyter-mcp-server"]
    )
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--profile-rounds", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1500.0, help="whole run, s")
    parser.add_argument(
        "--json-block", action="store_true", help="end with indented JSON (for run_all.py)"
    )
    parser.add_argument("--serve-traced", metavar="TRACE", help=argparse.SUPPRESS)
    add_quick_flag(parser)
    args = parser.parse_args()
    if args.serve_traced:
        sys.exit(serve_traced(args.serve_traced))
    quick = apply_quick(
        parser,
        args,
        {"rounds": 1, "calls": 20, "jms_calls": 2, "profile": "always", "profile_rounds": 1},
    )

    import anyio

    peers = prepare_peers(args.skip)
    tmp = Path(tempfile.mkdtemp(prefix="tk-bench-bridge-"))
    children: list[psutil.Process] = []

    async def bounded() -> dict[str, Any]:
        with anyio.fail_after(args.timeout):
            return await run(args, tmp, peers)

    try:
        result = anyio.run(bounded)
    finally:
        children = psutil.Process().children(recursive=True)
        end_processes(children)
        shutil.rmtree(tmp, ignore_errors=True)
    final = report(result, args)
    print(json.dumps(final, indent=1) if args.json_block else json.dumps(final), flush=True)
    sys.exit(exit_status(final["errors"], peers, quick=quick))


def exit_status(errors: dict[str, str], peers: Peers, *, quick: bool) -> int:
    """1 when a side failed; a peer that could not be installed fails a full run only."""
    not_installed = set(peers.errors) if quick else set()
    failed = sorted(set(errors) - not_installed)
    if failed:
        print(f"  not measured: {', '.join(failed)} (see above); exit status 1")
    return 1 if failed else 0


if __name__ == "__main__":
    main()
