"""Benchmark a real toolkernel kernel against its baselines, each pair side by side.

Run: `.venv/bin/python benchmarks/bench_kernel.py [--rounds 5] [--call-rounds 9] [--calls 500]
[--only per_call gather start first_call] [--profile auto|always|never] [--quick]`.
`--quick`: the same four comparisons and both profiles at tiny sizes (50 calls, one
round, 2 servers x 10 tools), in well under a minute.

1. per call: `await tools.echo.echo(text="x")` N times in one cell, each call timed in
   the cell, against raw `ClientSession.call_tool("echo", {"text": "x"})` in a plain
   process on its own copy of tests/servers/echo_server.py. Goal: p50 ratio <= 1.10.
   A third column runs the same bindings and `Toolbox` in a plain asyncio process (no
   ipykernel). When the goal is missed, `_call_profile.py` prints where the time goes.
2. concurrency: 200 calls with `asyncio.gather` in one cell against 200 sequential calls,
   for `slow(seconds=0.01)` (goal: speed-up >= 3x) and for `echo`.
3. start: `KernelManager.start_kernel` to the first cell where `len(list_tool_names())`
   is 1000, with 10 servers x 100 tools in the catalog cache and one of them dead (the 9
   live ones still connecting), against a plain python3 kernel to `1+1`. Goal <= 1.5 s.
4. first call: in a fresh kernel whose echo catalog is cached, after kernel_info and
   `await wait_for_servers()` (goal <= 100 ms), and with no wait at all.

The machine is small and shared, so compared runs alternate round by round and the
tables report medians. The last line of output is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

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
from _call_profile import profile_calls
from _quick import add_quick_flag, apply_quick
from _report import print_table
from _start_profile import profile_start

GOALS = {"overhead_ratio": 1.10, "gather_speedup": 3.0, "start_s": 1.5, "first_call_ms": 100.0}
ECHO_CMD = [PYTHON, str(SERVERS / "echo_server.py")]

PER_CALL_CELL = """
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

BATCH_CELL = """
import asyncio as _asyncio, json as _json, time as _time
_a = _time.perf_counter()
{body}
print(_json.dumps((_time.perf_counter() - _a) * 1000))
"""
SEQUENTIAL = "for _ in range({n}):\n    await tools.echo.{call}"
GATHERED = "await _asyncio.gather(*(tools.echo.{call} for _ in range({n})))"

FIRST_CALL_CELL = """
import json as _json, time as _time
_a = _time.perf_counter()
_r = await tools.echo.echo(text="x")
print(_json.dumps({"ms": (_time.perf_counter() - _a) * 1000, "ok": _r == "x"}))
"""


def cell_json(kernel: BenchKernel, code: str, timeout: float = 300.0) -> Any:
    """Run a cell and return the JSON value of its last stdout line."""
    out = kernel.execute(code, timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


def echo_kernel(work: Path) -> BenchKernel:
    """A toolkernel kernel on one echo server, connected (its home is `work/home`)."""
    config = write_config(work / "echo.json", {"echo": server_entry("echo_server.py")})
    kernel = BenchKernel(env=kernel_env(work / "home", config), cwd=work)
    kernel.execute("await wait_for_servers(60)", timeout=90)
    return kernel


# -- 1. per-call latency ----------------------------------------------------------------


def _worker_call_ms(worker: RawWorker, calls: int) -> list[float]:
    answer = worker.request(tool="echo", arguments={"text": "x"}, calls=calls, warmup=20)
    return [ns / 1e6 for ns in answer["durations_ns"]]


def bench_per_call(
    kernel: BenchKernel, raw: RawWorker, plain: RawWorker | None, *, calls: int, rounds: int
) -> dict[str, Any]:
    """Kernel cell vs raw SDK (and toolkernel in a plain process), alternating by round."""
    workers = {"plain": plain, "raw": raw} if plain is not None else {"raw": raw}
    clients = ["kernel", *workers]
    p50: dict[str, list[float]] = {name: [] for name in clients}
    mean: dict[str, list[float]] = {name: [] for name in clients}
    rows = []
    cell = PER_CALL_CELL.format(warmup=20, calls=calls)
    for number in range(rounds):
        for name in clients:
            if name == "kernel":
                samples = [ns / 1e6 for ns in cell_json(kernel, cell)]
            else:
                samples = _worker_call_ms(workers[name], calls)
            stats = summary(samples)
            p50[name].append(stats["p50"])
            mean[name].append(stats["mean"])
        ratio = p50["kernel"][-1] / p50["raw"][-1]
        rows.append([f"round {number + 1}", *[p50[n][-1] for n in clients], ratio])
    result: dict[str, Any] = {"calls_per_round": calls, "rounds": rounds}
    for name in clients:
        result[f"{name}_p50_ms"] = median(p50[name])
        result[f"{name}_mean_ms"] = median(mean[name])
    result["ratio_p50"] = result["kernel_p50_ms"] / result["raw_p50_ms"]
    result["ratio_mean"] = result["kernel_mean_ms"] / result["raw_mean_ms"]
    result["ratio_p50_paired"] = median(
        [k / r for k, r in zip(p50["kernel"], p50["raw"], strict=True)]
    )
    if plain is not None:
        result["plain_ratio_p50"] = result["plain_p50_ms"] / result["raw_p50_ms"]
    rows.append(["median p50", *[result[f"{n}_p50_ms"] for n in clients], result["ratio_p50"]])
    rows.append(["median mean", *[result[f"{n}_mean_ms"] for n in clients], result["ratio_mean"]])
    headers = {"kernel": "kernel cell", "plain": "toolkernel, no kernel", "raw": "raw SDK"}
    print_table(
        f"1. Per-call latency, echo(text='x'), {calls} calls per round, ms per call",
        ["", *[headers[n] for n in clients], "kernel / raw"],
        rows,
    )
    plain_note = (
        f"; toolkernel bindings in a plain process (no ipykernel) / raw: "
        f"{result['plain_ratio_p50']:.3f}"
        if plain is not None
        else ""
    )
    print(
        f"  overhead ratio kernel / raw SDK, p50: {result['ratio_p50']:.3f} "
        f"(median of per-round ratios {result['ratio_p50_paired']:.3f}){plain_note}"
    )
    print(f"  goal: kernel / raw SDK p50 <= {GOALS['overhead_ratio']:.2f}")
    return result


# -- 2. gather vs sequential ------------------------------------------------------------


def bench_gather(kernel: BenchKernel, raw: RawWorker, *, count: int, rounds: int) -> dict[str, Any]:
    cases = {
        "slow": ("slow(seconds=0.01)", {"seconds": 0.01}),
        "echo": ('echo(text="x")', {"text": "x"}),
    }
    result: dict[str, Any] = {"calls": count, "rounds": rounds}
    rows = []
    for tool, (call, arguments) in cases.items():
        times: dict[str, list[float]] = {"seq": [], "gather": [], "raw_seq": [], "raw_gather": []}
        for _ in range(rounds):
            for mode, body in (("seq", SEQUENTIAL), ("gather", GATHERED)):
                cell = BATCH_CELL.format(body=body.format(n=count, call=call))
                times[mode].append(cell_json(kernel, cell))
            seq = raw.request(tool=tool, arguments=arguments, calls=count)["durations_ns"]
            times["raw_seq"].append(sum(seq) / 1e6)
            gathered = raw.request(tool=tool, arguments=arguments, calls=count, gather=True)
            times["raw_gather"].append(gathered["total_ns"] / 1e6)
        medians = {mode: median(values) for mode, values in times.items()}
        speedup = medians["seq"] / medians["gather"]
        raw_speedup = medians["raw_seq"] / medians["raw_gather"]
        result[tool] = {**{f"{k}_ms": v for k, v in medians.items()}, "speedup": speedup}
        result[tool]["raw_speedup"] = raw_speedup
        rows.append([f"kernel {call}", medians["seq"], medians["gather"], f"{speedup:.1f}x"])
        rows.append(
            [f"raw SDK {tool}", medians["raw_seq"], medians["raw_gather"], f"{raw_speedup:.1f}x"]
        )
    print_table(
        f"2. {count} calls in one cell: sequential vs asyncio.gather, ms (median of {rounds})",
        ["", "sequential", "gather", "speed-up"],
        rows,
    )
    print(f"  goal: gather speed-up on slow >= {GOALS['gather_speedup']:.0f}x")
    return result


# -- 3. kernel start to bindings ready --------------------------------------------------


def populate_many(work: Path, servers: int, tools: int) -> tuple[Path, Path]:
    """Fill a home's catalog cache with `servers` x `tools`; return (home, config).

    The returned config has the same servers, the last one dead (a missing command),
    so its bindings can only come from the cache.
    """
    home = work / "many-home"
    names = [f"s{n}" for n in range(servers)]
    entries = {
        name: server_entry("many_tools_server.py", "--count", str(tools), "--prefix", name)
        for name in names
    }
    kernel = BenchKernel(env=kernel_env(home, write_config(work / "live.json", entries)), cwd=work)
    try:
        kernel.execute("await wait_for_servers(180)", timeout=200)
        count = kernel.value("len(list_tool_names())")
    finally:
        kernel.shutdown()
    if count != servers * tools:
        msg = f"cache fill saw {count} tools, expected {servers * tools}"
        raise RuntimeError(msg)
    entries[names[-1]] = {"command": "no-such-mcp-server-binary-for-bench"}
    return home, write_config(work / "one-dead.json", entries)


def bench_start(
    work: Path, *, rounds: int, servers: int, tools: int, profile: str, profile_rounds: int
) -> dict[str, Any]:
    home, config = populate_many(work, servers, tools)
    total = servers * tools
    dead = {"command": "no-such-mcp-server-binary-for-bench"}
    configured = json.loads(config.read_text(encoding="utf-8"))["mcpServers"]
    all_dead = write_config(work / "all-dead.json", dict.fromkeys(configured, dead))
    empty_home = work / "empty-home"
    variants = {
        "python3 kernel -> 1+1": ("python3", kernel_env(empty_home, None), "1+1", "2"),
        f"toolkernel {servers}x{tools} cached, 1 dead -> {total} names": (
            "toolkernel",
            kernel_env(home, config),
            "len(list_tool_names())",
            str(total),
        ),
        f"toolkernel {servers}x{tools} cached, all dead (no spawns) -> {total} names": (
            "toolkernel",
            kernel_env(home, all_dead),
            "len(list_tool_names())",
            str(total),
        ),
        "toolkernel, no servers -> 1+1": (
            "toolkernel",
            kernel_env(empty_home, write_config(work / "none.json", {})),
            "1+1",
            "2",
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    settled: list[float] = []
    failed: list[int] = []
    names = list(variants)
    for number in range(rounds):
        for name in names[number % len(names) :] + names[: number % len(names)]:
            kernel_name, env, expression, expected = variants[name]
            kernel = BenchKernel(env=env, cwd=work, kernel_name=kernel_name, wait_ready=False)
            try:
                times[name].append(time_to_ready(kernel, expression, expected))
                if name == names[1]:
                    kernel.execute("_s = await wait_for_servers(60)", timeout=90)
                    settled.append(time.perf_counter() - kernel.started)
                    failed.append(kernel.value("sum(s.state == 'failed' for s in _s)"))
            finally:
                kernel.shutdown()
    rows = [[name, median(v), min(v), max(v)] for name, v in times.items()]
    print_table(
        f"3. start_kernel -> first cell with bindings ready, s (median/min/max of {rounds})",
        ["", "median", "min", "max"],
        rows,
    )
    print(
        f"  with {servers} servers: all settled (connected or failed) {median(settled):.2f} s "
        f"after start (median); failed servers seen: {sorted(set(failed))}"
    )
    print(f"  goal: toolkernel bindings ready <= {GOALS['start_s']} s")
    medians = {name: median(v) for name, v in times.items()}
    result = {
        "rounds": rounds,
        "python3_s": medians[names[0]],
        "toolkernel_bindings_ready_s": medians[names[1]],
        "toolkernel_all_dead_s": medians[names[2]],
        "toolkernel_no_servers_s": medians[names[3]],
        "servers_settled_s": median(settled),
        "failed_servers": sorted(set(failed)),
        "tools": total,
    }
    missed = result["toolkernel_bindings_ready_s"] > GOALS["start_s"]
    if profile == "always" or (profile == "auto" and missed):
        result["profile"] = profile_start(home, config, rounds=profile_rounds)
    return result


# -- 4. first call in a fresh kernel ----------------------------------------------------


def bench_first_call(work: Path, *, rounds: int) -> dict[str, Any]:
    """`work/home` must already hold the echo server's catalog (bench 1 leaves it)."""
    config = write_config(work / "echo.json", {"echo": server_entry("echo_server.py")})
    env = kernel_env(work / "home", config)
    times: dict[str, list[float]] = {"after wait_for_servers": [], "no wait": []}
    round_trips: dict[str, list[float]] = {name: [] for name in times}
    from_start: list[float] = []
    for number in range(rounds):
        modes = list(times) if number % 2 == 0 else list(reversed(times))
        for mode in modes:
            kernel = BenchKernel(env=env, cwd=work)
            try:
                if mode == "after wait_for_servers":
                    kernel.execute("await wait_for_servers(60)", timeout=90)
                sent = time.perf_counter()
                answer = cell_json(kernel, FIRST_CALL_CELL, timeout=90)
                round_trips[mode].append((time.perf_counter() - sent) * 1000)
                if mode == "no wait":
                    from_start.append(time.perf_counter() - kernel.started)
                if not answer["ok"]:
                    msg = f"the first echo call returned a wrong value: {answer}"
                    raise RuntimeError(msg)
                times[mode].append(answer["ms"])
            finally:
                kernel.shutdown()
    rows = [
        [mode, median(times[mode]), min(times[mode]), max(times[mode]), median(round_trips[mode])]
        for mode in times
    ]
    print_table(
        f"4. First echo call in a fresh kernel (echo catalog cached), ms (median of {rounds})",
        ["", "in cell", "min", "max", "cell round trip"],
        rows,
    )
    print(
        f"  no wait: start_kernel -> first result {median(from_start):.2f} s (median); "
        f"goal: after wait_for_servers <= {GOALS['first_call_ms']:.0f} ms"
    )
    return {
        "rounds": rounds,
        "after_wait_ms": median(times["after wait_for_servers"]),
        "no_wait_ms": median(times["no wait"]),
        "after_wait_round_trip_ms": median(round_trips["after wait_for_servers"]),
        "no_wait_round_trip_ms": median(round_trips["no wait"]),
        "no_wait_start_to_result_s": median(from_start),
    }


# -- runner -----------------------------------------------------------------------------


GOAL_CHECKS = [
    ("per-call overhead ratio, p50", ("per_call", "ratio_p50"), "overhead_ratio"),
    ("gather speed-up, {calls} x slow(0.01)", ("gather", "slow", "speedup"), "gather_speedup"),
    ("start -> {tools} bindings ready, s", ("start", "toolkernel_bindings_ready_s"), "start_s"),
    ("first call after ready, ms", ("first_call", "after_wait_ms"), "first_call_ms"),
]
HIGHER_IS_BETTER = {"gather_speedup"}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per goal whose benchmark ran: name, value, goal and pass/fail."""
    rows = []
    for name, path, key in GOAL_CHECKS:
        value: Any = results
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        goal = GOALS[key]
        higher = key in HIGHER_IS_BETTER
        ok = value >= goal if higher else value <= goal
        op = ">=" if higher else "<="
        label = name.format(**results[path[0]])  # the sizes of the run ({calls}, {tools})
        rows.append({"name": label, "value": value, "goal": f"{op} {goal:g}", "pass": ok})
    return rows


SECTIONS = ["per_call", "gather", "start", "first_call"]


def run_per_call(kernel: BenchKernel, raw: RawWorker, args: argparse.Namespace) -> dict[str, Any]:
    """Bench 1, then the per-call profile when asked or when the ratio misses its goal."""
    plain = RawWorker(ECHO_CMD, via="toolbox")
    try:
        result = bench_per_call(kernel, raw, plain, calls=args.calls, rounds=args.call_rounds)
    finally:
        plain.close()
    missed = result["ratio_p50"] > GOALS["overhead_ratio"]
    if args.profile == "always" or (args.profile == "auto" and missed):
        result["profile"] = profile_calls(
            kernel, raw, calls=args.profile_calls, rounds=profile_rounds(args)
        )
    return result


def profile_rounds(args: argparse.Namespace) -> int:
    return args.profile_rounds or max(3, args.rounds // 2)


QUICK = {
    "calls": 50,
    "rounds": 1,
    "call_rounds": 1,
    "batch": 20,
    "servers": 2,
    "tools": 10,
    "profile": "always",  # the profiles rot too when nothing runs them
    "profile_calls": 30,
    "profile_rounds": 1,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per per-call round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per comparison")
    parser.add_argument("--call-rounds", type=int, default=9, help="rounds of bench 1")
    parser.add_argument("--batch", type=int, default=200, help="calls per gather/sequential cell")
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--tools", type=int, default=100)
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="print where per-call and start time go: when a goal is missed (auto)",
    )
    parser.add_argument("--profile-calls", type=int, default=300, help="calls per profile")
    parser.add_argument("--profile-rounds", type=int, default=0, help="0: max(3, rounds / 2)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=SECTIONS,
        help="run only these comparisons",
    )
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, QUICK)
    work = Path(tempfile.mkdtemp(prefix="tkb-kernel-"))
    results: dict[str, Any] = {}
    try:
        if {"per_call", "gather", "first_call"} & set(args.only):
            kernel = echo_kernel(work)  # also leaves the echo catalog cached in work/home
            raw = RawWorker(ECHO_CMD)
            try:
                if "per_call" in args.only:
                    results["per_call"] = run_per_call(kernel, raw, args)
                if "gather" in args.only:
                    results["gather"] = bench_gather(
                        kernel, raw, count=args.batch, rounds=args.rounds
                    )
            finally:
                raw.close()
                kernel.shutdown()
        if "start" in args.only:
            results["start"] = bench_start(
                work,
                rounds=args.rounds,
                servers=args.servers,
                tools=args.tools,
                profile=args.profile,
                profile_rounds=profile_rounds(args),
            )
        if "first_call" in args.only:
            results["first_call"] = bench_first_call(work, rounds=args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["goals"] = goals(results)
    print_table(
        "Goals",
        ["measure", "value", "goal", "result"],
        [
            [g["name"], g["value"], g["goal"], "pass" if g["pass"] else "FAIL"]
            for g in results["goals"]
        ],
    )
    print(json.dumps({"bench": "kernel", **results}))


if __name__ == "__main__":
    main()
