"""Run every benchmark in turn, then print one summary table of the goals.

Run: `.venv/bin/python benchmarks/run_all.py [--quick] [--rounds 5] [--skip peers] [--strict]`
(`make bench` does this, in full). Each benchmark runs in its own subprocess with a
timeout and its output is shown as it comes:

- bench_search.py: BM25 search over 10,000 tools (goal: worst query p50 <= 5 ms);
- bench_bindings.py: generating and loading bindings for 10 x 100 tools;
- bench_kernel.py: per-call overhead, gather vs sequential, kernel start with 1,000
  cached tools, first call in a fresh kernel (goals in its docstring);
- peers/compare.py: agent-codemode against the raw mcp SDK, shown beside toolkernel;
- bench_bridge_load.py: 50 concurrent HTTP sessions x 20 execute_code through one bridge,
  each session on its own kernel from the warm pool: p50/p99, kernel start and pool
  refill, memory per kernel, sessions refused;
- bench_tokens.py: tokens a model sees with direct tool calls against code mode;
- bench_wasm.py: warm WASM calls from a cell, cold loads from the compiled cache;
- bench_scripts.py: script tools, cold under bwrap against a bare spawn, and warm workers;
- bench_host_service.py: per-call cost of `toolkernel host` over its socket, beside the
  in-process host and the raw SDK (goal: <= 1.5x the raw SDK);
- bench_sandboxed.py: the sandboxed kernel (tools in a `toolkernel host`) beside the plain
  kernel and the raw SDK: per call (goal: <= 1.5x the raw SDK), start (goal: <= 1.5x
  the plain kernel's), memory;
- bench_reload.py: hot reload, from saving a tool folder to refreshed bindings (<= 1 s);
- bench_panel_api.py: the panel's REST search over 10,000 tools (p50 <= 20 ms);
- bench_panel_render.py: the panel in headless Chromium with 10,000 tools (no jank).

`--quick` (or `TOOLKERNEL_BENCH_QUICK=1`) runs every benchmark in its quick mode (passed
down as `--quick` and as the environment variable): the same code paths and comparisons
at tiny sizes, a few minutes in all. Its goal table is a smoke check, not a measurement.

Exit status: 1 when a benchmark failed or timed out (or, with --strict, missed a goal).
The last line is one JSON object with every benchmark's numbers and the goal rows.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _quick import ENV_VAR, add_quick_flag
from _report import print_table

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
SEARCH_GOAL_MS = 5.0
BENCHMARKS = [
    "search",
    "bindings",
    "kernel",
    "peers",
    "bridge",
    "bridge_load",
    "tokens",
    "wasm",
    "scripts",
    "host_service",
    "sandboxed",
    "reload",
    "panel_api",
    "panel_render",
]
INSTALL_S = 900
"""Room for building a peer's venv from PyPI on first use (peers, bridge)."""


def plan(args: argparse.Namespace) -> list[tuple[str, list[str], float]]:
    """(name, command, timeout in s) of every benchmark, in the order they run.

    In quick mode `--rounds` is passed only when given, so each benchmark's own quick
    sizes apply; the timeouts are those of quick runs (plus room for a peer venv).
    """
    rounds = args.rounds if args.rounds is not None else (None if args.quick else 5)
    given = ["--rounds", str(rounds)] if rounds is not None else []
    half = ["--rounds", str(max(1, rounds // 2))] if rounds is not None else []
    quick = ["--quick"] if args.quick else []
    steps = [
        ("search", ["benchmarks/bench_search.py"], 600, 120),
        ("bindings", ["benchmarks/bench_bindings.py"], 600, 120),
        ("kernel", ["benchmarks/bench_kernel.py", *given], 2400, 300),
        ("peers", ["benchmarks/peers/compare.py"], 1500, 300 + INSTALL_S),
        ("bridge", ["benchmarks/bench_bridge.py", *given, "--json-block"], 1800, 300 + INSTALL_S),
        ("bridge_load", ["benchmarks/bench_bridge_load.py"], 1800, 300),
        ("tokens", ["benchmarks/bench_tokens.py"], 600, 300),
        ("wasm", ["benchmarks/bench_wasm.py", *half], 1800, 300),
        ("scripts", ["benchmarks/bench_scripts.py"], 1800, 300),
        ("host_service", ["benchmarks/bench_host_service.py", *given], 900, 300),
        ("sandboxed", ["benchmarks/bench_sandboxed.py", *given], 1800, 300),
        ("reload", ["benchmarks/bench_reload.py"], 900, 300),
        ("panel_api", ["benchmarks/bench_panel_api.py"], 900, 300),
        ("panel_render", ["benchmarks/bench_panel_render.py"], 900, 300),
    ]
    return [
        (name, [*command, *quick], quick_s if args.quick else full_s)
        for name, command, full_s, quick_s in steps
        if name not in args.skip
    ]


def run(
    name: str, args: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[str, str | None]:
    """Run one benchmark, echoing its output live; return (output, error or None)."""
    print(f"\n{'=' * 30} {name} {'=' * 30}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [PYTHON, *args],
        cwd=BENCH.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, so a timeout ends all it started
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    error = None
    deadline = started + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            error = f"timed out after {timeout:.0f} s"
            os.killpg(proc.pid, signal.SIGTERM)
            break
        if line is None:
            break
        output.append(line)
        print(line, end="", flush=True)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=15)
    if error is None and code != 0:
        error = f"exit status {code}"
    print(f"--- {name}: {time.monotonic() - started:.0f} s{', ' + error if error else ''}")
    return "".join(output), error


def json_block(output: str) -> dict[str, Any] | None:
    """The JSON object printed (possibly indented) from the first line that is `{`."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "{":
            try:
                block: dict[str, Any] = json.loads("\n".join(lines[index:]))
            except ValueError:
                continue
            return block
    return None


def last_json_line(output: str, prefix: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(prefix):
            found: dict[str, Any] = json.loads(line)
            return found
    return None


def parse_search(output: str) -> dict[str, Any] | None:
    worst = re.search(r"worst search p50: ([\d.]+) ms", output)
    load = re.search(r"load_catalogs p50 ([\d.]+) ms", output)
    if worst is None:
        return None
    return {
        "worst_search_p50_ms": float(worst.group(1)),
        "load_catalogs_10x100_p50_ms": float(load.group(1)) if load else None,
    }


def peers_table(kernel: dict[str, Any] | None, peers: dict[str, Any] | None) -> None:
    """agent-codemode's numbers (from compare.py) beside toolkernel's (from bench_kernel)."""
    if not kernel or not peers:
        return
    per_call = kernel.get("per_call", {})
    summary = peers.get("per_call_summary", {})
    acm = peers.get("agent_codemode", {})
    rows = []
    if per_call and "raw_p50_ms_median" in summary:
        rows += [
            ["raw mcp SDK (bench_kernel run)", per_call["raw_p50_ms"], 1.0],
            [
                "toolkernel binding in a kernel cell",
                per_call["kernel_p50_ms"],
                per_call["ratio_p50"],
            ],
            *(
                [
                    [
                        "toolkernel binding, plain process (no ipykernel)",
                        per_call["plain_p50_ms"],
                        per_call["plain_ratio_p50"],
                    ]
                ]
                if "plain_p50_ms" in per_call
                else []
            ),
            ["raw mcp SDK (compare.py run)", summary["raw_p50_ms_median"], 1.0],
            [
                "agent-codemode, one execute, via a thread bridge",
                summary["agent_codemode_p50_ms_median"],
                summary["ratio_p50"],
            ],
        ]
        print_table(
            "Per-call latency, echo over stdio: p50 ms (ratio vs the raw SDK of the same run)",
            ["", "p50 ms", "ratio"],
            rows,
        )
    if acm.get("deadlocked_by_default"):
        print("  agent-codemode's default path deadlocked on its first tool call (bounded probe).")
    start = kernel.get("start", {})
    sizes = [int(k.split("_")[2]) for k in acm if re.fullmatch(r"bindings_ready_\d+_tools", k)]
    ready = acm.get(f"bindings_ready_{max(sizes)}_tools", {}) if sizes else {}
    raw_lists = peers.get("raw_mcp_sdk", {}).get("list_ready", [])
    rows = []
    if start:
        rows.append(
            [
                f"toolkernel: start_kernel -> {start['tools']} bindings (cache, 1 server dead)",
                start["toolkernel_bindings_ready_s"],
            ]
        )
        rows.append(["plain python3 kernel: start_kernel -> 1+1", start["python3_s"]])
    if ready:
        rows.append(
            [
                f"agent-codemode: process start -> {ready['tools']} bindings (1 live server)",
                ready["bindings_ready_s"],
            ]
        )
    rows += [
        [f"raw SDK: process start -> list_tools of {r['tools']} tools", r["list_ready_s"]]
        for r in raw_lists
        if "list_ready_s" in r
    ]
    if rows:
        print_table("Bindings ready, s", ["", "s"], rows)


def goal_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    search = results.get("search")
    if search:
        ok = search["worst_search_p50_ms"] <= SEARCH_GOAL_MS
        rows.append(
            [
                "search_tools: worst query p50, ms",
                search["worst_search_p50_ms"],
                f"<= {SEARCH_GOAL_MS:g}",
                "pass" if ok else "FAIL",
            ]
        )
    for name in ("kernel", "bridge"):
        for goal in (results.get(name) or {}).get("goals", []):
            ok = "pass" if goal["pass"] else "FAIL"
            rows.append([goal["name"], goal["value"], goal["goal"], ok])
    panel = results.get("panel_api")
    if panel:
        ok = panel["search_p50_ms"] <= panel["goal_search_p50_ms"]
        label = f"panel REST search, {panel['tools']:,} tools: p50, ms"
        row = [label, panel["search_p50_ms"], f"<= {panel['goal_search_p50_ms']:g}"]
        rows.append([*row, "pass" if ok else "FAIL"])
    for name in ("wasm", "scripts", "host_service", "sandboxed", "reload", "panel_render"):
        for goal in (results.get(name) or {}).get("goals", []):
            value = next(v for k, v in goal.items() if k.startswith("value"))
            rows.append([goal["goal"], value, "(in name)", "pass" if goal["met"] else "FAIL"])
    return rows


def info_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    kernel = results.get("kernel") or {}
    if "start" in kernel:
        rows.append(["python3 kernel: start -> 1+1, s", kernel["start"]["python3_s"], "-", "info"])
    if "plain_ratio_p50" in kernel.get("per_call", {}):
        value = kernel["per_call"]["plain_ratio_p50"]
        rows.append(["per-call ratio, bindings in a plain process (no kernel)", value, "-", "info"])
    if "first_call" in kernel:
        value = kernel["first_call"]["no_wait_ms"]
        rows.append(["first call with no wait for servers, ms", value, "-", "info"])
    if "gather" in kernel:
        value = kernel["gather"]["echo"]["speedup"]
        rows.append([f"gather speed-up, {kernel['gather']['calls']} x echo", value, "-", "info"])
    bindings = results.get("bindings") or {}
    if "warm_load_all_fresh_process_ms" in bindings:
        value = bindings["warm_load_all_fresh_process_ms"]
        size = f"{bindings['sources']} x {bindings['tools_per_source']}"
        rows.append([f"bindings: warm load {size}, fresh process, ms", value, "-", "info"])
    summary = (results.get("peers") or {}).get("per_call_summary", {})
    if "ratio_p50" in summary:
        value = summary["ratio_p50"]
        rows.append(["agent-codemode per-call ratio vs raw SDK, p50", value, "-", "info"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per kernel comparison (default 5)"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=BENCHMARKS)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    add_quick_flag(parser)
    args = parser.parse_args()
    env = dict(os.environ)
    if args.quick:
        env[ENV_VAR] = "1"
        print("quick mode: every benchmark at tiny sizes; the goal table is a smoke check")
    else:
        env.pop(ENV_VAR, None)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, command, timeout in plan(args):
        output, error = run(name, command, timeout, env)
        if error:
            errors[name] = error
        if name == "search":
            results[name] = parse_search(output)
        elif name == "kernel":
            results[name] = last_json_line(output, '{"bench": "kernel"')
        elif name in (
            "bridge_load",
            "tokens",
            "wasm",
            "scripts",
            "sandboxed",
            "reload",
            "panel_render",
        ):
            results[name] = last_json_line(output, f'{{"bench": "{name}"')
        elif name == "panel_api":
            results[name] = last_json_line(output, '{"tools"')
        else:
            results[name] = json_block(output)
        if results[name] is None and name not in errors:
            errors[name] = "printed no numbers"

    print(f"\n{'=' * 30} summary {'=' * 30}")
    peers_table(results.get("kernel"), results.get("peers"))
    goals = goal_rows(results)
    mode = "quick mode, tiny sizes: a smoke check" if args.quick else "medians"
    print_table(
        f"Goals ({mode}; the machine is shared, so compared runs alternate in rounds)",
        ["measure", "value", "goal", "result"],
        goals + info_rows(results),
    )
    for name, error in errors.items():
        print(f"  {name}: {error}")
    failed = [row[0] for row in goals if row[3] == "FAIL"]
    print(json.dumps({"bench": "all", "results": results, "errors": errors, "failed": failed}))
    if errors or (args.strict and failed):
        sys.exit(1)


if __name__ == "__main__":
    main()
