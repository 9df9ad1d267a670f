"""Measure agent-codemode (PyPI ``agent-codemode``) against a stdio echo server.

Runs INSIDE the peer venv (see ``_venv.py``); it imports only agent_codemode and
the standard library. Public API used: ``ToolRegistry``, ``MCPServerConfig``,
``CodeModeConfig``, ``CodeModeExecutor`` (``setup``, ``execute``, ``call_tool``,
``sandbox_client``) and ``CodeSandboxClient.register_tool_caller``.

Prints ONE JSON object on stdout:
  per-call latency of ``echo`` called N times inside ONE ``executor.execute``
  (run through a ``run_coroutine_threadsafe`` bridge, because the default path
  deadlocks), whether the default path deadlocked (probed in a child process
  with a bounded timeout), and bindings-ready times (fresh child per server).

    python agent_codemode_echo.py --server-cmd '["/py", "_echo_server.py"]' \
        --calls 500 --tools-server-cmds '[["/py", "_echo_server.py", "--tools", "3"]]'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_SCRIPT = time.perf_counter()  # before agent_codemode is imported
SERVER_NAME = "bench"  # no hyphen: agent-codemode breaks on hyphenated names


def _process_age_s() -> float | None:
    """Seconds since this process was started (Linux /proc, 10 ms ticks)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / ticks
    except Exception:
        return None


def _emit(obj: dict) -> None:
    # sys.__stdout__: the eval sandbox swaps sys.stdout process-wide while code
    # runs (redirect_stdout), and a hung execute leaves it swapped.
    sys.__stdout__.write(json.dumps(obj) + "\n")
    sys.__stdout__.flush()


async def _build(server_cmd: list[str], workdir: Path):
    """Registry + discover_all + executor.setup (codegen and sandbox)."""
    from agent_codemode import (
        CodeModeConfig,
        CodeModeExecutor,
        MCPServerConfig,
        ToolRegistry,
    )

    stages: dict[str, float] = {}
    t = time.perf_counter()
    registry = ToolRegistry()
    registry.add_server(
        MCPServerConfig(name=SERVER_NAME, command=server_cmd[0], args=server_cmd[1:])
    )
    await registry.discover_all()
    stages["discover_all_s"] = time.perf_counter() - t
    if registry.tool_count == 0:
        msg = "discover_all found no tools (server failed to start?)"
        raise RuntimeError(msg)

    config = CodeModeConfig(
        generated_path=str(workdir / "generated"),
        skills_path=str(workdir / "skills"),
        workspace_path=str(workdir / "workspace"),
    )
    t = time.perf_counter()
    executor = CodeModeExecutor(registry, config)
    await executor.setup()  # writes generated/ and starts the eval sandbox
    stages["setup_s"] = time.perf_counter() - t
    return registry, executor, stages


def _install_bridge(executor) -> None:
    """Run tool calls on the loop that owns the MCP session.

    Executed code runs under ``asyncio.run`` on a worker thread (a second event
    loop); the MCP ``ClientSession`` lives on this loop. The bridge submits
    ``executor.call_tool`` here with ``run_coroutine_threadsafe`` and awaits
    the wrapped future on the worker loop. ``execute`` rewires the generated
    ``client.set_tool_caller(__call_tool__)`` each time, so registering the
    bridge as ``__call_tool__`` is enough.
    """
    owner_loop = asyncio.get_running_loop()

    async def bridged_call_tool(tool_name, arguments):
        fut = asyncio.run_coroutine_threadsafe(executor.call_tool(tool_name, arguments), owner_loop)
        return await asyncio.wrap_future(fut)

    executor.sandbox_client.register_tool_caller(bridged_call_tool)


def _check(result, what: str) -> None:
    if result.code_error or not result.execution_ok:
        msg = f"{what} failed: {result.code_error or result.execution_error}\n{result.stderr}"
        raise RuntimeError(msg)


def _last_json_line(stdout: str):
    for raw in reversed(stdout.splitlines()):
        line = raw.strip()
        if line.startswith(("{", "[")):
            return json.loads(line)
    msg = f"no JSON in executed code's stdout: {stdout!r}"
    raise RuntimeError(msg)


CALL_LOOP = """
import json, time
from generated.mcp.{server} import echo
__times = []
for __i in range({n}):
    __t = time.perf_counter()
    __r = await echo(text="hello")
    __times.append(time.perf_counter() - __t)
assert __r == "hello", repr(__r)
print(json.dumps(__times))
"""


async def mode_calls(args) -> dict:
    from importlib.metadata import version

    acm_version = version("agent-codemode")

    with tempfile.TemporaryDirectory(prefix="acm-bench-") as tmp:
        registry, executor, _stages = await _build(args.server_cmd, Path(tmp))
        try:
            _install_bridge(executor)
            # Warm-up in its own execute (first call pays the SDK's lazy imports).
            res = await asyncio.wait_for(
                executor.execute(CALL_LOOP.format(server=SERVER_NAME, n=args.warmup)),
                args.timeout,
            )
            _check(res, "warm-up execute")
            t = time.perf_counter()
            res = await asyncio.wait_for(
                executor.execute(CALL_LOOP.format(server=SERVER_NAME, n=args.calls)),
                args.timeout,
            )
            execute_wall = time.perf_counter() - t
            _check(res, "measured execute")
            times_ms = [x * 1000 for x in _last_json_line(res.stdout)]
            # Same calls without the sandbox: executor.call_tool on the owner loop.
            direct = []
            for _ in range(args.calls):
                t = time.perf_counter()
                await executor.call_tool(f"{SERVER_NAME}__echo", {"text": "hello"})
                direct.append((time.perf_counter() - t) * 1000)
            # Overhead of one execute whose code imports the bindings.
            t = time.perf_counter()
            res = await executor.execute(f"from generated.mcp.{SERVER_NAME} import echo")
            import_execute_ms = (time.perf_counter() - t) * 1000
            _check(res, "import execute")
        finally:
            await executor.cleanup()
            for client in registry._clients.values():
                await client.close()
    return {
        "agent_codemode_version": acm_version,
        "calls": args.calls,
        "per_call_ms_p50": statistics.median(times_ms),
        "per_call_ms_mean": statistics.fmean(times_ms),
        "per_call_ms_p90": statistics.quantiles(times_ms, n=10)[-1]
        if len(times_ms) > 1
        else times_ms[0],
        "execute_wall_ms_for_all_calls": execute_wall * 1000,
        "direct_executor_call_tool_ms_p50": statistics.median(direct),
        "execute_import_bindings_ms": import_execute_ms,
        "bridge": "run_coroutine_threadsafe via CodeSandboxClient.register_tool_caller",
    }


async def mode_probe_default(args) -> dict:
    """One echo call through the unmodified default path, bounded in time."""
    tmp = tempfile.mkdtemp(prefix="acm-probe-")
    args._probe_tmp = tmp  # removed by the caller before os._exit
    registry, executor, _ = await _build(args.server_cmd, Path(tmp))
    code = (
        f"from generated.mcp.{SERVER_NAME} import echo\n"
        "r = await echo(text='hello')\nprint(repr(r))\n"
    )
    t = time.perf_counter()
    try:
        res = await asyncio.wait_for(executor.execute(code), args.probe_timeout)
    except TimeoutError:
        import threading
        import traceback

        # Evidence: where the worker thread running the executed code is stuck.
        frames = sys._current_frames()
        stuck = []
        for th in threading.enumerate():
            if th is threading.main_thread() or th.ident not in frames:
                continue
            stack = traceback.extract_stack(frames[th.ident])
            if any("_run_coroutine_sync" in f.name for f in stack):
                stuck = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack[-8:]]
        return {
            "deadlocked_by_default": True,
            "probe_timeout_s": args.probe_timeout,
            "detail": f"execute() of one echo call did not finish in {args.probe_timeout} s",
            "tool_calls_sent": registry.mcp_call_count,
            "tool_calls_completed": len(executor.tool_call_history),
            "worker_thread_stack": stuck,
        }
    return {
        "deadlocked_by_default": False,
        "elapsed_s": time.perf_counter() - t,
        "stdout": res.stdout,
        "code_error": str(res.code_error) if res.code_error else None,
        "execution_error": res.execution_error,
        "stderr_tail": res.stderr[-2000:],
    }


async def mode_bindings(args) -> dict:
    """Process start -> bindings importable and callable from executed code."""
    import agent_codemode  # noqa: F401  (timed: part of getting ready)

    import_s = time.perf_counter() - T_SCRIPT
    with tempfile.TemporaryDirectory(prefix="acm-bind-") as tmp:
        registry, executor, stages = await _build(args.server_cmd, Path(tmp))
        t = time.perf_counter()
        res = await executor.execute(f"from generated.mcp.{SERVER_NAME} import echo")
        _check(res, "first import execute")
        stages["first_import_execute_s"] = time.perf_counter() - t
        age = _process_age_s()
        in_script = time.perf_counter() - T_SCRIPT
        # Every execute purges generated.* and re-imports it: time it again warm.
        t = time.perf_counter()
        res = await executor.execute(f"from generated.mcp.{SERVER_NAME} import echo")
        _check(res, "second import execute")
        stages["reimport_execute_s"] = time.perf_counter() - t
        out = {
            "tools": registry.tool_count,
            "bindings_ready_s": round(age, 3) if age is not None else in_script,
            "bindings_ready_in_script_s": in_script,
            "import_agent_codemode_s": import_s,
            **stages,
        }
        if args.t0 is not None:
            out["bindings_ready_from_spawn_s"] = time.time() - args.t0
        await executor.cleanup()
        for client in registry._clients.values():
            await client.close()
    return out


def _child(args, mode: str, server_cmd: list[str], timeout: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--mode",
        mode,
        "--server-cmd",
        json.dumps(server_cmd),
        "--probe-timeout",
        str(args.probe_timeout),
        "--t0",
        repr(time.time()),
    ]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        return {
            "error": f"child {mode} killed after {timeout} s",
            "stderr_tail": (e.stderr or "")[-1500:] if isinstance(e.stderr, str) else "",
        }
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except Exception:
        return {
            "error": f"child {mode} exit {p.returncode}",
            "stdout_tail": p.stdout[-1500:],
            "stderr_tail": p.stderr[-1500:],
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--server-cmd",
        required=True,
        type=json.loads,
        help="JSON list: command + args of a stdio MCP server with echo(text)",
    )
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument(
        "--tools-server-cmds",
        type=json.loads,
        default=None,
        help="JSON list of server commands, one bindings-ready child each",
    )
    ap.add_argument("--mode", choices=["all", "calls", "probe-default", "bindings"], default="all")
    ap.add_argument("--probe-timeout", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="bound on each execute")
    ap.add_argument("--t0", type=float, default=None, help="epoch time the parent spawned us")
    ap.add_argument("--skip-probe", action="store_true")
    args = ap.parse_args()

    if args.mode == "probe-default":

        async def probe_then_exit():
            try:
                _emit(await mode_probe_default(args))
            finally:
                import shutil

                shutil.rmtree(getattr(args, "_probe_tmp", ""), ignore_errors=True)
            # Exit at once: after a deadlock neither asyncio.run's teardown (the
            # stdio client's tasks) nor the hung worker thread would ever finish.
            os._exit(0)

        asyncio.run(probe_then_exit())
    if args.mode == "bindings":
        _emit(asyncio.run(mode_bindings(args)))
        return
    out = {"peer": "agent-codemode"}
    out.update(asyncio.run(asyncio.wait_for(mode_calls(args), args.timeout * 3)))
    if args.mode == "all":
        if not args.skip_probe:
            probe = _child(args, "probe-default", args.server_cmd, args.probe_timeout + 60)
            out["deadlocked_by_default"] = probe.get("deadlocked_by_default")
            out["default_path_probe"] = probe
        for cmd in args.tools_server_cmds or []:
            r = _child(args, "bindings", cmd, 180)
            key = f"bindings_ready_{r.get('tools', 'err')}_tools"
            out[key] = r
    _emit(out)


if __name__ == "__main__":
    main()
