"""Where a warm WASM call from a cell spends its time, measured inside a running kernel.

Used by bench_wasm.py. Two views, each printed as a table:

- phases: every call is stamped (`perf_counter_ns`, one clock for every thread) when it
  starts in the cell, enters `ToolHost.call` on the host thread, enters and leaves the
  sandbox's `WasmProgram.run` (wherever it runs), leaves `ToolHost.call`, and resumes in
  the cell. `WasmProgram.run` is the sandbox's share; everything else is toolkernel's.
- cProfile of the same calls on the kernel's thread (the cell) and the host's, top
  functions by own time, time spent waiting in epoll left out. Profiling inflates
  everything; read it for shares.

The stamps wrap `ToolHost.call` on the instance and `WasmProgram.run` on the class, and
unwrap them afterwards, so the measured kernel is the same code as the timed one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from _bench_support import median
from _report import print_table

if TYPE_CHECKING:
    from _bench_support import BenchKernel

PHASE_CELL = """
import json as _pj, time as _pt
from toolkernel_sandbox.wasm import WasmProgram as _pProgram
_phost = get_ipython().kernel.toolbox.host
_pcur, _pphases = {{}}, []
_pcall = type(_phost).call.__get__(_phost)
_prun = _pProgram.run

async def _pcall_timed(*args, **kwargs):
    _pcur["b"] = _pt.perf_counter_ns()
    try:
        return await _pcall(*args, **kwargs)
    finally:
        _pcur["e"] = _pt.perf_counter_ns()

def _prun_timed(self, *args, **kwargs):
    _pcur["c"] = _pt.perf_counter_ns()
    try:
        return _prun(self, *args, **kwargs)
    finally:
        _pcur["d"] = _pt.perf_counter_ns()

_phost.call, _pProgram.run = _pcall_timed, _prun_timed
try:
    for _ in range(50):
        await tools.local.echo_args(x=1)
    for _ in range({calls}):
        _pcur.clear()
        _pa = _pt.perf_counter_ns()
        await tools.local.echo_args(x=1)
        _pf = _pt.perf_counter_ns()
        _pphases.append([_pa, _pcur["b"], _pcur["c"], _pcur["d"], _pcur["e"], _pf])
finally:
    del _phost.call
    _pProgram.run = _prun
print(_pj.dumps(_pphases))
"""

PROFILE_CELL = """
import asyncio as _pa, cProfile as _pcp, json as _pj, pstats as _pps
_phost = get_ipython().kernel.toolbox.host
_pkern, _phostprof = _pcp.Profile(), _pcp.Profile()

async def _pswitch(on):
    _phostprof.enable() if on else _phostprof.disable()

await _pa.wrap_future(_pa.run_coroutine_threadsafe(_pswitch(True), _phost._loop))
_pkern.enable()
for _ in range({calls}):
    await tools.local.echo_args(x=1)
_pkern.disable()
await _pa.wrap_future(_pa.run_coroutine_threadsafe(_pswitch(False), _phost._loop))

def _ptop(prof, n):
    stats = _pps.Stats(prof)
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        if "select.epoll" in func or file.endswith("selectors.py"):
            continue  # waiting for the other thread, not work
        where = file.rsplit("/site-packages/", 1)[-1].rsplit("/kernel/", 1)[-1]
        where = where.rsplit("/sandbox/", 1)[-1].rsplit("/lib/python3", 1)[-1]
        rows.append((tt, ct, nc, f"{{where}}:{{line}}({{func}})"))
    rows.sort(reverse=True)
    top = [(round(tt * 1e3, 1), round(ct * 1e3, 1), nc, name) for tt, ct, nc, name in rows[:n]]
    return stats.total_tt, top

print(_pj.dumps({{"kernel": _ptop(_pkern, {top}), "host": _ptop(_phostprof, {top})}}))
"""

PHASES = [
    ("cell -> ToolHost.call: binding, Toolbox.call_result, hop to the host loop", 0, 1),
    ("ToolHost.call -> sandbox: validation, dispatch, stdin JSON, run thread", 1, 2),
    ("sandbox WasmProgram.run: store, WASI, instantiate, _start", 2, 3),
    ("sandbox -> ToolHost.call returns: result JSON, output check", 3, 4),
    ("ToolHost.call -> cell: hop back, to_python", 4, 5),
    ("total, as the cell sees it", 0, 5),
]


def _stdout_json(kernel: BenchKernel, code: str, timeout: float = 300.0) -> Any:
    out = kernel.execute(code, timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


def profile_wasm_calls(kernel: BenchKernel, *, calls: int, top: int = 12) -> dict[str, Any]:
    """Measure the phases and the cProfile of `calls` warm calls of `local.echo_args`.

    The kernel must already have the tool (`create_tool('echo_args', ...)`).
    """
    stamps = _stdout_json(kernel, PHASE_CELL.format(calls=calls))
    phases = {
        name: median([(row[end] - row[start]) / 1e3 for row in stamps])
        for name, start, end in PHASES
    }
    prof = _stdout_json(kernel, PROFILE_CELL.format(calls=calls, top=top))
    return {"calls": calls, "phases_us": phases, "cprofile": prof}


def print_wasm_profile(profile: dict[str, Any]) -> None:
    """Print what `profile_wasm_calls` measured."""
    calls, phases = profile["calls"], profile["phases_us"]
    print_table(
        f"Where a warm WASM call from a cell spends its time: median us per phase "
        f"({calls} calls, each stamped at every boundary)",
        ["phase", "us"],
        [[name, round(us, 1)] for name, us in phases.items()],
    )
    for thread, (total, entries) in profile["cprofile"].items():
        print_table(
            f"cProfile, {thread} thread, {calls} calls (total {total * 1000:.0f} ms under "
            f"the profiler), top {len(entries)} by own time, epoll waits left out",
            ["function", "own ms", "cumulative ms", "calls"],
            [[name, tt, ct, nc] for tt, ct, nc, name in entries],
        )
