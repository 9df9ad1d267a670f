"""Where a binding call's time goes, measured inside a running toolkernel kernel.

Used by bench_kernel.py when the per-call overhead ratio misses its goal. Three views,
each printed as a table:

- phases: every binding call is stamped (`perf_counter_ns`, one clock for both threads)
  when it starts in the cell, enters `ToolHost.call`'s work on the host thread, enters and
  leaves the SDK's `session.call_tool`, leaves that work, and resumes in the cell. The
  `session.call_tool` phase is what the raw SDK does; everything else is toolkernel.
- CPU cost of toolkernel's own work with the server's I/O stubbed out, and of its
  pure-Python steps (result conversion, schema check, progress line), in tight loops.
- cProfile of as many binding calls (300 in a full bench_kernel run), both threads: the
  kernel's (the cell) and the host's (MCP session, validation). Profiling inflates
  everything; read it for shares.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from _bench_support import median
from _report import print_table

if TYPE_CHECKING:
    from _report import print_table
from _bench_support import BenchKernel, RawWorker

SETUP_CELL = """
import asyncio as _pa, json as _pj, time as _pt
_ptb = get_ipython().kernel.toolbox
_phost = _ptb.host
_psess = _phost._connections["echo"]._session  # private: only a benchmark reaches in
_phop = lambda coro: _pa.wrap_future(_pa.run_coroutine_threadsafe(coro, _phost._loop))

async def _ploop(make, n):
    for _ in range(20):
        await make()
    out = []
    for _ in range(n):
        a = _pt.perf_counter_ns()
        await make()
        out.append(_pt.perf_counter_ns() - a)
    return out

async def _pon_host(make, n):
    return await _phop(_ploop(make, n))

_pargs = {"text": "x"}
"""

PHASE_CELL = """
_pcur, _pphases = {{}}, []
_pcall = type(_phost)._call_server.__get__(_phost)  # the part on the host loop
_ptool = type(_psess).call_tool.__get__(_psess)

async def _pcall_timed(*args, **kwargs):
    _pcur["b"] = _pt.perf_counter_ns()
    try:
        return await _pcall(*args, **kwargs)
    finally:
        _pcur["e"] = _pt.perf_counter_ns()

async def _ptool_timed(*args, **kwargs):
    _pcur["c"] = _pt.perf_counter_ns()
    try:
        return await _ptool(*args, **kwargs)
    finally:
        _pcur["d"] = _pt.perf_counter_ns()

_phost._call_server, _psess.call_tool = _pcall_timed, _ptool_timed
try:
    for _ in range(20):
        await tools.echo.echo(text="x")
    for _ in range({calls}):
        _pcur.clear()
        _pa0 = _pt.perf_counter_ns()
        await tools.echo.echo(text="x")
        _pf = _pt.perf_counter_ns()
        _pphases.append([_pa0, _pcur["b"], _pcur["c"], _pcur["d"], _pcur["e"], _pf])
finally:
    del _phost._call_server, _psess.call_tool
print(_pj.dumps(_pphases))
"""

ON_HOST_CELL = """
print(_pj.dumps(await _pon_host(lambda: _psess.call_tool("echo", _pargs), {calls})))
"""

CPU_CELL = """
import timeit as _ptimeit
_praw = await _phop(_psess.call_tool("echo", _pargs))

def _pus(fn, n=2000):
    try:
        return min(_ptimeit.repeat(fn, number=n, repeat=3)) / n * 1e6
    except Exception as exc:  # internals move; report instead of failing the run
        return f"n/a ({{type(exc).__name__}}: {{exc}})"

async def _pnoop():
    return None

async def _pcanned(*args, **kwargs):
    return _praw

async def _ptime_async(make, n=2000):
    best = None
    for _ in range(3):
        a = _pt.perf_counter_ns()
        for _ in range(n):
            await make()
        t = (_pt.perf_counter_ns() - a) / n / 1e3
        best = t if best is None else min(best, t)
    return best

async def _pstubbed(make, on_host):
    # The session's I/O is replaced by a canned result, so only toolkernel's own work
    # (and, from the cell, the thread hop) is left in the timing.
    _psess.call_tool = _pcanned
    try:
        if on_host:
            return await _phop(_ptime_async(make))
        return await _ptime_async(make)
    finally:
        del _psess.call_tool

_pcosts = {{}}
_pcosts["thread hop: cell loop -> host loop -> cell (no-op coroutine)"] = await _ptime_async(
    lambda: _phop(_pnoop()))
_pcosts["host.call, session I/O stubbed (host loop)"] = await _pstubbed(
    lambda: _phost.call("echo.echo", _pargs), True)
_pcosts["toolbox.call, session I/O stubbed (from the cell)"] = await _pstubbed(
    lambda: _ptb.call("echo", "echo", dict(_pargs)), False)
_pcosts["binding tools.echo.echo, session I/O stubbed (from the cell)"] = await _pstubbed(
    lambda: tools.echo.echo(text="x"), False)
try:
    from toolkernel.host._convert import result_from_mcp as _presult_from_mcp
    _presult = _presult_from_mcp("echo.echo", _praw)
    _pcosts["  result_from_mcp (pydantic model_dump of the content)"] = _pus(
        lambda: _presult_from_mcp("echo.echo", _praw))
    from toolkernel.bindings import to_python as _pto_python
    _pcosts["  to_python"] = _pus(lambda: _pto_python(_presult))
except Exception as exc:
    _pcosts["  result conversion"] = f"n/a ({{exc}})"
try:
    import jsonschema as _pjs
    _pvalidator = _pjs.Draft202012Validator(_phost._specs["echo"]["echo"].input_schema)
    _pcosts["  jsonschema iter_errors on the echo schema"] = _pus(
        lambda: list(_pvalidator.iter_errors({{"text": "x"}})))
except Exception as exc:
    _pcosts["  jsonschema"] = f"n/a ({{exc}})"
try:
    from toolkernel.kernel._progress import ProgressLine as _pProgressLine
    _pcosts["  ProgressLine() made per call (show_progress)"] = _pus(
        lambda: _pProgressLine("echo.echo"))
except Exception as exc:
    _pcosts["  ProgressLine"] = f"n/a ({{exc}})"
print(_pj.dumps(_pcosts))
"""

PROFILE_CELL = """
import cProfile as _pcp, io as _pio, pstats as _pps
_pkern, _phostprof = _pcp.Profile(), _pcp.Profile()

async def _pswitch(on):
    _phostprof.enable() if on else _phostprof.disable()

await _phop(_pswitch(True))
_pkern.enable()
for _ in range({calls}):
    await tools.echo.echo(text="x")
_pkern.disable()
await _phop(_pswitch(False))

def _ptop(prof, n):
    stream = _pio.StringIO()
    stats = _pps.Stats(prof, stream=stream)
    total = stats.total_tt
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        where = file.rsplit("/site-packages/", 1)[-1].rsplit("/kernel/", 1)[-1]
        rows.append((tt, ct, nc, f"{{where}}:{{line}}({{func}})"))
    rows.sort(reverse=True)
    top = rows[:n]
    return total, [(round(tt * 1e3, 1), round(ct * 1e3, 1), nc, name) for tt, ct, nc, name in top]

print(_pj.dumps({{"kernel": _ptop(_pkern, {top}), "host": _ptop(_phostprof, {top})}}))
"""


def _stdout_json(kernel: BenchKernel, code: str, timeout: float = 300.0) -> Any:
    out = kernel.execute(code, timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


PHASES = [
    ("cell -> host: binding, toolbox.call, thread hop", 0, 1),
    ("host.call before I/O: resolve, connection, validation", 1, 2),
    ("session.call_tool: MCP SDK + server round trip", 2, 3),
    ("host.call after I/O: result conversion", 3, 4),
    ("host -> cell: thread hop back, to_python", 4, 5),
    ("total, as the cell sees it", 0, 5),
]


def profile_calls(
    kernel: BenchKernel, raw: RawWorker, *, calls: int, rounds: int
) -> dict[str, Any]:
    """Print the three views for the echo server of `kernel`; return them as data."""
    kernel.execute(SETUP_CELL)
    by_phase: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
    on_host_name = "reference: session.call_tool looped on the host thread (no cell, no hop)"
    raw_name = "reference: raw SDK process, whole call"
    by_phase[on_host_name], by_phase[raw_name] = [], []
    for _ in range(rounds):
        stamps = _stdout_json(kernel, PHASE_CELL.format(calls=calls))
        for name, start, end in PHASES:
            by_phase[name].append(median([(row[end] - row[start]) / 1e3 for row in stamps]))
        on_host = _stdout_json(kernel, ON_HOST_CELL.format(calls=calls))
        by_phase[on_host_name].append(median([ns / 1e3 for ns in on_host]))
        answer = raw.request(tool="echo", arguments={"text": "x"}, calls=calls, warmup=20)
        by_phase[raw_name].append(median([ns / 1e3 for ns in answer["durations_ns"]]))
    phases = {name: median(values) for name, values in by_phase.items()}
    print_table(
        f"Where a binding call's time goes: echo, median us per phase "
        f"({rounds} rounds x {calls} calls, each call stamped at every boundary)",
        ["phase", "us"],
        [[name, us] for name, us in phases.items()],
    )

    cpu = _stdout_json(kernel, CPU_CELL.format())
    print_table(
        "toolkernel's own CPU per call, the server's I/O stubbed (best of 3 x 2000, in the kernel)",
        ["step", "us per call"],
        [[name, us] for name, us in cpu.items()],
    )

    top = 10
    prof = _stdout_json(kernel, PROFILE_CELL.format(calls=calls, top=top))
    for thread, (total, entries) in prof.items():
        print_table(
            f"cProfile, {thread} thread, {calls} binding calls (total {total * 1000:.0f} ms "
            f"under the profiler), top {top} by own time",
            ["function", "own ms", "cumulative ms", "calls"],
            [[name, tt, ct, nc] for tt, ct, nc, name in entries],
        )
    return {"phases_us": phases, "cpu_us": cpu, "cprofile": prof}
