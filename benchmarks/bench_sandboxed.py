"""The sandboxed kernel against the plain kernel and the raw SDK, side by side in one run.

Run: `.venv/bin/python benchmarks/bench_sandboxed.py [--quick] [--calls 500] [--cells 100]
[--rounds 3] [--start-rounds 3]`. Needs bubblewrap (or firejail) and the installed
`toolkernel-sandboxed` kernel provisioner (`bash .ci/setup`).

The sandboxed kernel is the real `toolkernel-sandboxed` kernelspec (installed under a
temporary prefix, as `toolkernel install-kernel --sandboxed --prefix` does), started
through jupyter_client: its launcher starts the kernel's own `toolkernel host` outside
the sandbox, then the kernel under bubblewrap with `RemoteToolHost`. The plain kernel is
the `toolkernel` kernel with its in-process host. Both call the same
tests/servers/echo_server.py's `echo(text="x")`; the raw SDK is one `ClientSession` in a
plain process (`_raw_echo_worker.py`).

1. Per call, in-cell loop: N calls in one cell, each timed in the cell (the kernel's
   execute cost amortised), beside N raw SDK calls. Goal: sandboxed p50 <= 1.5x raw SDK.
2. Per call, one call per cell: each cell's execute-to-reply time, seen by the client
   (what an agent sending one call per `execute_code` pays), beside one raw SDK call.
3. Memory: RSS and PSS of the plain kernel and its echo MCP server, and of the
   sandboxed kernel, its tool host, its launcher and the host's echo MCP server.
4. Start: from `start_kernel` (for the sandboxed kernel, its launcher starts the host
   and the kernel) to the first execute reply that sees `tools.echo.echo`, each in a
   fresh home. Goal: sandboxed <= 1.5x plain.

The sides alternate within each round, the order rotating, so a slow spell of the shared
machine lands on all alike; tables report medians over the rounds. The last line of
output is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import psutil
from _bench_support import (
    PYTHON,
    SERVERS,
    BenchKernel,
    RawWorker,
    kernel_env,
    median,
    server_entry,
    summary,
    time_to_ready,
    write_config,
)
from _quick import add_quick_flag, apply_quick
from _report import latency_table, print_table

from sandboxed_support import sandboxed_spec
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME
from toolkernel.sandboxed import PROVISIONER_NAME

GOALS = {"per_call_ratio": 1.5, "start_ratio": 1.5}
ECHO_SCRIPT = "echo_server.py"
ECHO_CMD = [PYTHON, str(SERVERS / ECHO_SCRIPT)]
SPEC_NAME = SANDBOXED_KERNEL_NAME
PROVISIONER_GROUP = "jupyter_client.kernel_provisioners"
SANDBOX_BINARIES = ("bwrap", "firejail")
"""Processes between the launcher and the kernel whose argv names the kernel too."""
TOOLS_READY = "callable(getattr(getattr(tools, 'echo', None), 'echo', None))"
"""True once the echo server's tools are bound in a kernel (`tools.echo.echo`)."""

LOOP_CELL = """
import json as _json, time as _time
for _ in range({warmup}):
    await tools.echo.echo(text="x")
_d = []
for _ in range({calls}):
    _a = _time.perf_counter_ns()
    await tools.echo.echo(text="x")
    _d.append(_time.perf_counter_ns() - _a)
print(_json.dumps(_d))
"""
ONE_CALL_CELL = 'await tools.echo.echo(text="x")'


# -- starting the kernels ---------------------------------------------------------------


@dataclass
class Sandboxed:
    """A `toolkernel-sandboxed` kernel: its launcher, the host it started, the kernel."""

    kernel: BenchKernel

    def host_process(self) -> psutil.Process | None:
        """The `toolkernel host` its launcher started (outside the sandbox)."""
        for proc in _children(self.kernel.pid, recursive=False):
            try:
                if "toolkernel.cli" in proc.cmdline() and "host" in proc.cmdline():
                    return proc
            except psutil.Error:
                continue
        return None

    def kernel_process(self) -> psutil.Process | None:
        """The kernel's own python process, inside the sandbox (below the launcher)."""
        for proc in self.kernel.children():
            try:
                if proc.name() not in SANDBOX_BINARIES and "toolkernel.launcher" in proc.cmdline():
                    return proc
            except psutil.Error:
                continue
        return None

    def shutdown(self) -> None:
        self.kernel.shutdown()


def start_sandboxed(work: Path, config: Path) -> Sandboxed:
    """Start the `toolkernel-sandboxed` kernelspec, as Jupyter does, in a fresh home.

    Its launcher starts the kernel's own `toolkernel host` (on `config`'s servers, from
    the launching environment), then the kernel under bubblewrap with `RemoteToolHost`.
    """
    env = kernel_env(work / "home", config)
    return Sandboxed(BenchKernel(env=env, cwd=work, kernel_name=SPEC_NAME, wait_ready=False))


def sandboxed_unavailable() -> str | None:
    """Why the sandboxed kernel cannot run here, or None."""
    if shutil.which("bwrap") is None and shutil.which("firejail") is None:
        return "it needs bubblewrap or firejail, and neither is installed"
    if not entry_points(group=PROVISIONER_GROUP, name=PROVISIONER_NAME):
        return (
            f"the {PROVISIONER_NAME!r} kernel provisioner is not installed in this "
            "environment: run `bash .ci/setup` (it reinstalls toolkernel with its entry points)"
        )
    return None


def start_plain(work: Path, config: Path) -> BenchKernel:
    return BenchKernel(env=kernel_env(work / "home", config), cwd=work, wait_ready=False)


def fresh(base: Path, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))


# -- 1 and 2. per call ------------------------------------------------------------------


def loop_samples(kernel: BenchKernel, calls: int, warmup: int) -> list[float]:
    out = kernel.execute(LOOP_CELL.format(warmup=warmup, calls=calls), timeout=600).stdout
    return [ns / 1e6 for ns in json.loads(out.strip().splitlines()[-1])]


def cell_samples(kernel: BenchKernel, cells: int) -> list[float]:
    """Client-side execute-to-reply time of `cells` cells of one call each, ms."""
    samples = []
    for _ in range(cells):
        started = time.perf_counter_ns()
        msg_id = kernel.client.execute(ONE_CALL_CELL, silent=True, store_history=False)
        reply = kernel.reply_to(msg_id, 60)
        samples.append((time.perf_counter_ns() - started) / 1e6)
        if reply["content"]["status"] != "ok":
            msg = f"the one-call cell failed: {reply['content']}"
            raise RuntimeError(msg)
    return samples


def raw_samples(raw: RawWorker, calls: int, warmup: int) -> list[float]:
    answer = raw.request(tool="echo", arguments={"text": "x"}, calls=calls, warmup=warmup)
    return [ns / 1e6 for ns in answer["durations_ns"]]


def bench_per_call(
    kernels: dict[str, BenchKernel], raw: RawWorker, args: argparse.Namespace
) -> dict[str, Any]:
    names = [*kernels, "raw SDK"]
    loops: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    cells: dict[str, list[dict[str, float]]] = {name: [] for name in kernels}
    for number in range(args.rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "raw SDK":
                loops[name].append(summary(raw_samples(raw, args.calls, args.warmup)))
            else:
                loops[name].append(summary(loop_samples(kernels[name], args.calls, args.warmup)))
                cells[name].append(summary(cell_samples(kernels[name], args.cells)))
    loop = {n: {k: median([r[k] for r in loops[n]]) for k in ("p50", "p90")} for n in names}
    cell = {n: {k: median([r[k] for r in cells[n]]) for k in ("p50", "p90")} for n in kernels}
    floor = loop["raw SDK"]["p50"]
    latency_table(f"1. Per call, {args.calls} calls in one cell x {args.rounds} round(s)", loop)
    print_table(
        "   p50 against the raw SDK",
        ["path", "ratio", "added ms"],
        [[n, f"{s['p50'] / floor:.2f}x", s["p50"] - floor] for n, s in loop.items()],
    )
    latency_table(
        f"2. One call per cell, execute to reply, {args.cells} cells x {args.rounds} round(s)",
        {**cell, "raw SDK (one call)": loop["raw SDK"]},
    )
    return {
        "loop_p50_ms": {n: s["p50"] for n, s in loop.items()},
        "loop_p90_ms": {n: s["p90"] for n, s in loop.items()},
        "cell_p50_ms": {n: s["p50"] for n, s in cell.items()},
        "cell_p90_ms": {n: s["p90"] for n, s in cell.items()},
        "loop_ratio_p50": {n: s["p50"] / floor for n, s in loop.items()},
        "cell_ratio_p50_to_plain": {n: s["p50"] / cell["plain"]["p50"] for n, s in cell.items()},
    }


# -- 4. start ---------------------------------------------------------------------------


def bench_start(base: Path, config: Path, sides: list[str], rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in sides}
    for number in range(rounds):
        shift = number % len(sides)
        for name in sides[shift:] + sides[:shift]:
            times[name].append(time_start(base, config, name))
    found = {name: median(values) for name, values in times.items()}
    print_table(
        f"4. Launch to the echo server's tools bound, s (median of {rounds})",
        ["kernel", "s", "min s", "max s"],
        [[n, found[n], min(times[n]), max(times[n])] for n in times],
    )
    ratio = {name: value / found["plain"] for name, value in found.items()}
    if "sandboxed" in ratio:
        print(f"   sandboxed / plain: {ratio['sandboxed']:.2f}x")
    return {"start_s": found, "start_ratio_to_plain": ratio}


def time_start(base: Path, config: Path, side: str) -> float:
    """Seconds from launching `side` (and its host) to its tools being bound."""
    work = fresh(base, f"start-{side}")
    launched = time.perf_counter()
    if side == "plain":
        kernel = start_plain(work, config)
        try:
            time_to_ready(kernel, TOOLS_READY, "True", timeout=120)
            return time.perf_counter() - launched
        finally:
            kernel.shutdown()
    sandboxed = start_sandboxed(work, config)
    try:
        time_to_ready(sandboxed.kernel, TOOLS_READY, "True", timeout=120)
        return time.perf_counter() - launched
    finally:
        sandboxed.shutdown()


# -- 3. memory --------------------------------------------------------------------------


def memory_of(proc: psutil.Process | None) -> dict[str, float] | None:
    """RSS and PSS of one process, MiB (PSS None where /proc does not show it)."""
    if proc is None:
        return None
    try:
        info = proc.memory_full_info()
        pss = getattr(info, "pss", None)
        return {"rss_mib": info.rss / 2**20, "pss_mib": pss / 2**20 if pss is not None else None}
    except psutil.AccessDenied:
        return {"rss_mib": proc.memory_info().rss / 2**20, "pss_mib": None}
    except psutil.Error:
        return None


def bench_memory(plain: BenchKernel, sandboxed: Sandboxed | None) -> dict[str, Any]:
    found = {
        "plain kernel": memory_of(_process(plain.pid)),
        "plain: echo MCP server": memory_of(echo_server(_children(plain.pid))),
    }
    if sandboxed is not None:
        host = sandboxed.host_process()
        found["sandboxed kernel"] = memory_of(sandboxed.kernel_process())
        found["sandboxed: its tool host"] = memory_of(host)
        found["sandboxed: its launcher"] = memory_of(_process(sandboxed.kernel.pid))
        served = _children(host.pid) if host is not None else []
        found["sandboxed: echo MCP server"] = memory_of(echo_server(served))
    rows = []
    for name, mem in found.items():
        if mem is None:
            rows.append([name, "n/a", "n/a"])
        else:
            pss = mem["pss_mib"]
            rows.append([name, f"{mem['rss_mib']:.1f}", "n/a" if pss is None else f"{pss:.1f}"])
    print_table("3. Memory after the per-call runs, MiB", ["process", "RSS", "PSS"], rows)
    return found


def echo_server(processes: list[psutil.Process]) -> psutil.Process | None:
    """The echo MCP server's python process among `processes`."""
    for proc in processes:
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if any(arg.endswith(ECHO_SCRIPT) for arg in argv) and "python" in Path(argv[0]).name:
            return proc
    return None


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _children(pid: int, *, recursive: bool = True) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=recursive)
    except psutil.Error:
        return []


# -- main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="timed calls per in-cell loop")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls before each loop")
    parser.add_argument("--cells", type=int, default=100, help="one-call cells per round")
    parser.add_argument("--rounds", type=int, default=3, help="per-call rounds, sides alternated")
    parser.add_argument("--start-rounds", type=int, default=3, help="starts of each kernel")
    add_quick_flag(parser)
    args = parser.parse_args()
    quick = {"calls": 30, "warmup": 5, "cells": 5, "rounds": 1, "start_rounds": 1}
    apply_quick(parser, args, quick)
    missing = sandboxed_unavailable()
    if missing is not None:
        print(f"the sandboxed kernel is left out: {missing}")
    with tempfile.TemporaryDirectory(prefix="tkb-sandboxed-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)  # as root, the sandboxed kernel's uid 65534 enters its workspace
        spec = sandboxed_spec(base / "prefix")
        paths = [str(spec), os.environ.get("JUPYTER_PATH")]
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, paths))
        config = write_config(base / "mcp.json", {"echo": server_entry("echo_server.py")})
        per_call, memory = measure_running(base, config, args, missing is None)
        sides = ["plain", "sandboxed"] if missing is None else ["plain"]
        start = bench_start(base, config, sides, args.start_rounds)
    goals = []
    if missing is None:
        goals = [
            {
                "goal": f"sandboxed per-call p50, in-cell loop, <= {GOALS['per_call_ratio']:g}x "
                "raw SDK",
                "value_ratio": per_call["loop_ratio_p50"]["sandboxed"],
                "met": per_call["loop_ratio_p50"]["sandboxed"] <= GOALS["per_call_ratio"],
            },
            {
                "goal": f"sandboxed launch to tools ready <= {GOALS['start_ratio']:g}x plain",
                "value_ratio": start["start_ratio_to_plain"]["sandboxed"],
                "met": start["start_ratio_to_plain"]["sandboxed"] <= GOALS["start_ratio"],
            },
        ]
    print()
    for goal in goals:
        verdict = "pass" if goal["met"] else "FAIL"
        print(f"goal: {goal['goal']}: {goal['value_ratio']:.2f}x, {verdict}")
    results = {
        "bench": "sandboxed",
        "calls": args.calls,
        "cells": args.cells,
        "rounds": args.rounds,
        "sandboxed_left_out": missing,
        **per_call,
        **start,
        "memory_mib": memory,
        "goals": goals,
    }
    print(json.dumps(results))
    return 0


def measure_running(
    base: Path, config: Path, args: argparse.Namespace, with_sandboxed: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per call and memory, on kernels kept running."""
    raw = RawWorker(ECHO_CMD)
    plain = start_plain(fresh(base, "plain"), config)
    sandboxed = start_sandboxed(fresh(base, "sandboxed"), config) if with_sandboxed else None
    try:
        kernels = {"plain": plain}
        if sandboxed is not None:
            kernels["sandboxed"] = sandboxed.kernel
        for kernel in kernels.values():
            kernel.client.wait_for_ready(timeout=90)
            kernel.execute("await wait_for_servers(60)", timeout=90)
        for name, kernel in kernels.items():
            if kernel.value(TOOLS_READY) is not True:
                msg = f"the {name} kernel has no tools.echo.echo once its servers connected"
                raise RuntimeError(msg)
        per_call = bench_per_call(kernels, raw, args)
        memory = bench_memory(plain, sandboxed)
    finally:
        if sandboxed is not None:
            sandboxed.shutdown()
        plain.shutdown()
        raw.close()
    return per_call, memory


if __name__ == "__main__":
    sys.exit(main())
