"""WASM tools: warm calls from a kernel cell, cold loads from the compiled cache, 1,000 calls.

Run: `.venv/bin/python benchmarks/bench_wasm.py [--calls 1000] [--rounds 3] [--cold 30] [--quick]
[--no-profile]` (`--quick`: 50 calls, one round, 5 cold loads).

Measured side by side, on one trivial tool (`echo.wat`: stdin copied to stdout):

- baseline: bare wasmtime with a fresh instantiation per call (Engine, Linker and
  Module shared; a new Store, WASI config with a stdin file and stdout to a Python
  callback, instantiate, `_start`), the goal's reference;
- bare wasmtime with an `InstancePre` and stdout discarded: how much of the baseline is
  its stdout callback (wasmtime runs it on a tokio thread, a thread switch per write);
- the sandbox runner alone (`WasmProgram.run`: InstancePre, stdin from bytes);
- `ToolHost.call` on the host loop (validation, runner thread, JSON result);
- `ToolHost.call` submitted from another event loop (what a binding does);
- end to end from a kernel cell: `await tools.local.echo_args(x=1)` timed in the cell.

Then, in the last round's kernel (unless `--no-profile`), where a call's time goes
(`_wasm_profile.py`): each call stamped at every boundary (cell, host loop, sandbox run,
back), and a cProfile of the kernel's and the host's threads.

Goals (issue 4): warm call from a cell p50 <= 200 us, printed beside the bare wasmtime
baseline of the same run; cold load from the compiled cache <= 5 ms; throughput of 1,000
calls (sequential and with asyncio.gather).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import wasmtime
from _bench_support import BenchKernel, kernel_env, summary, write_config
from _quick import add_quick_flag, apply_quick
from _report import latency_table, print_table
from _wasm_profile import print_wasm_profile, profile_wasm_calls

REPO = Path(__file__).resolve().parents[1]
ECHO_WAT = (REPO / "tests" / "wasm_sources" / "echo.wat").read_text(encoding="utf-8")
ARGS = {"x": 1}
SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}}


def time_calls(call: Any, calls: int) -> list[float]:
    """Call `call()` `calls` times after 50 warm-ups; return each duration in ms."""
    for _ in range(50):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bare_wasmtime(wasm: bytes, calls: int, work: Path) -> list[float]:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    stdin = work / "stdin.json"
    stdin.write_text(json.dumps(ARGS), encoding="utf-8")

    def call() -> None:
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.stdin_file = str(stdin)
        out: list[bytes] = []
        wasi.stdout_custom = out.append
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        start(store)
        store.close()

    return time_calls(call, calls)


def bare_wasmtime_no_output(wasm: bytes, calls: int, work: Path) -> list[float]:
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(wasmtime.Module(engine, wasm))
    stdin = work / "stdin.json"
    stdin.write_text(json.dumps(ARGS), encoding="utf-8")

    def call() -> None:
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.stdin_file = str(stdin)
        store.set_wasi(wasi)
        start = pre.instantiate(store).exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        start(store)
        store.close()

    return time_calls(call, calls)


def sandbox_runner(
    wasm: bytes, calls: int, work: Path, cold_loads: int
) -> tuple[list[float], list[float]]:
    from toolkernel_sandbox.wasm import WasmRunner

    stdin = json.dumps(ARGS).encode()
    with WasmRunner(cache_dir=work / "cache") as runner:
        program = runner.load(wasm)
        warm = time_calls(lambda: program.run(stdin), calls)
    cold = []
    for _ in range(cold_loads):
        with WasmRunner(cache_dir=work / "cache") as fresh:
            started = time.perf_counter()
            fresh.load(wasm)
            cold.append((time.perf_counter() - started) * 1000)
            assert fresh.compiled_count == 0, "the compiled cache was not used"
    return warm, cold


def host_calls(work: Path, calls: int) -> dict[str, list[float]]:
    """`ToolHost.call` on its own loop, and awaited from another loop (it hops itself)."""
    from toolkernel.session._toolbox import Toolbox

    toolbox = Toolbox(home=work / "home", config_path=write_config(work / "mcp.json", {}))
    toolbox.host.start()
    try:
        toolbox.create_tool("echo_args", language="wat", source=ECHO_WAT, input_schema=SCHEMA)
        host = toolbox.host

        loop = asyncio.new_event_loop()
        try:
            hop = time_calls(
                lambda: loop.run_until_complete(host.call("local.echo_args", ARGS)), calls
            )
        finally:
            loop.close()
        # Private: only a benchmark runs its own code on the host's loop.
        inner = asyncio.run_coroutine_threadsafe(_timed_on_loop(host, calls), host._loop).result()
        return {"host loop": inner, "submitted": hop}
    finally:
        toolbox.stop()


async def _many(host: Any, count: int) -> None:
    for _ in range(count):
        await host.call("local.echo_args", ARGS)


async def _timed_on_loop(host: Any, calls: int) -> list[float]:
    await _many(host, 50)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await host.call("local.echo_args", ARGS)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


CELL = """
import time as _t, asyncio as _a
for _ in range(50):
    await tools.local.echo_args(x=1)
_samples = []
for _ in range({calls}):
    _s = _t.perf_counter()
    await tools.local.echo_args(x=1)
    _samples.append((_t.perf_counter() - _s) * 1000)
_s = _t.perf_counter()
await _a.gather(*(tools.local.echo_args(x=i) for i in range({calls})))
_gather_s = _t.perf_counter() - _s
print(__import__("json").dumps({{"samples": _samples, "gather_s": _gather_s}}))
"""


def kernel_calls(work: Path, calls: int, *, profile: bool) -> dict[str, Any]:
    """Time `calls` warm calls from a cell of a fresh kernel; then profile them if asked."""
    folder = work / "kernel"
    folder.mkdir()
    config = write_config(folder / "mcp.json", {})
    kernel = BenchKernel(env=kernel_env(folder / "home", config), cwd=folder)
    try:
        kernel.execute(
            f"create_tool('echo_args', language='wat', source={ECHO_WAT!r}, "
            f"input_schema={SCHEMA!r})",
            timeout=600,
        )
        out = kernel.execute(CELL.format(calls=calls), timeout=600).stdout
        measured: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        if profile:
            measured["profile"] = profile_wasm_calls(kernel, calls=calls)
        return measured
    finally:
        kernel.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", type=int, default=30, help="cold loads per round")
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the phase stamps and the cProfile"
    )
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"calls": 50, "rounds": 1, "cold": 5})
    wasm = bytes(wasmtime.wat2wasm(ECHO_WAT))
    rows: dict[str, list[float]] = {}
    cold: list[float] = []
    gathers: list[float] = []
    profile: dict[str, Any] = {}
    for round_no in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="tk-bench-wasm-") as tmp:
            work = Path(tmp)
            rows.setdefault("bare wasmtime, fresh instance", []).extend(
                bare_wasmtime(wasm, args.calls, work)
            )
            rows.setdefault("bare wasmtime, InstancePre, no stdout", []).extend(
                bare_wasmtime_no_output(wasm, args.calls, work)
            )
            warm, cold_round = sandbox_runner(wasm, args.calls, work, args.cold)
            rows.setdefault("sandbox WasmProgram.run", []).extend(warm)
            cold.extend(cold_round)
            for label, samples in host_calls(work, args.calls).items():
                rows.setdefault(f"ToolHost.call, {label}", []).extend(samples)
            last = round_no == args.rounds - 1
            measured = kernel_calls(work, args.calls, profile=last and not args.no_profile)
            rows.setdefault("kernel cell, await binding", []).extend(measured["samples"])
            gathers.append(measured["gather_s"])
            profile = measured.get("profile", profile)
    latencies = {label: summary(samples) for label, samples in rows.items()}
    latency_table("warm call of a trivial WASM tool", latencies, unit="us")
    results: dict[str, Any] = {"bench": "wasm", **latencies}
    cell = results["kernel cell, await binding"]
    sequential_per_s = 1000 / cell["mean"]
    gather_per_s = args.calls / statistics.median(gathers)
    cold_stats = summary(cold)
    print_table(
        "cold load and throughput",
        ["what", "value"],
        [
            ["cold load from compiled cache, p50 ms", f"{cold_stats['p50']:.2f}"],
            [f"{args.calls:,} sequential calls from a cell, calls/s", f"{sequential_per_s:,.0f}"],
            [f"{args.calls:,} calls with asyncio.gather, calls/s", f"{gather_per_s:,.0f}"],
        ],
    )
    if profile:
        print_wasm_profile(profile)
        results["profile_phases_us"] = profile["phases_us"]
    bare = latencies["bare wasmtime, fresh instance"]["p50"]
    met = "met" if cell["p50"] <= 0.2 else "MISSED"
    print(
        f"\ngoal: warm WASM call from a cell p50 <= 200 us: {cell['p50'] * 1000:.0f} us "
        f"({met}); bare wasmtime, fresh instance, in this run: {bare * 1000:.0f} us "
        f"(cell / bare = {cell['p50'] / bare:.2f}x); cold load p50 {cold_stats['p50']:.2f} ms"
    )
    results["cold_load_ms"] = cold_stats
    results["sequential_calls_per_s"] = sequential_per_s
    results["gather_calls_per_s"] = gather_per_s
    results["goals"] = [
        {
            "goal": "warm WASM call from a cell p50 <= 200 us",
            "value_us": round(cell["p50"] * 1000),
            "baseline_bare_wasmtime_us": round(bare * 1000),
            "met": cell["p50"] <= 0.2,
        },
        {
            "goal": "cold load from the compiled cache <= 5 ms",
            "value_ms": round(cold_stats["p50"], 2),
            "met": cold_stats["p50"] <= 5.0,
        },
    ]
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
