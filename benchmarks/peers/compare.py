"""One run, side by side: raw mcp SDK vs agent-codemode on the same echo server.

Run with /work/main/.venv/bin/python (mcp 2.3.0):
    python benchmarks/peers/compare.py [--calls 500] [--many-tools 1000] [--rounds 3]
        [--skip-server] [--quick]
Creates the peer venv on first use (benchmarks/.venvs/agent-codemode/, from PyPI), runs
every measurement in its own bounded subprocess, prints a table of the two side by side,
then one JSON object. `--quick`: 50 calls, 100 tools, one round; when the peer cannot be
installed, quick mode says so, still measures the raw SDK and exits 0 (a full run exits 1).
Exit status 1 also when a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from _quick import add_quick_flag, apply_quick  # noqa: E402
from _report import print_table  # noqa: E402
from _venv import ensure_peer_venv  # noqa: E402

REQUIREMENT = "agent-codemode==1.1.1"
INSTALL_TIMEOUT = 900.0


def run_json(cmd: list[str], timeout: float) -> dict:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "cmd": cmd}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": f"exit {p.returncode}", "stderr_tail": p.stderr[-2000:]}
    return json.loads(lines[-1])


def raw_calls(main_py: str, echo: list[str], calls: int) -> dict[str, Any]:
    script = str(HERE / "_raw_sdk.py")
    cmd = [main_py, script, "--server-cmd", json.dumps(echo), "--calls", str(calls)]
    return run_json(cmd, 300)


def per_call_summary(raws: list[dict], acms: list[dict], rounds: int) -> dict[str, Any]:
    try:
        rp = [r["per_call_ms_p50"] for r in raws]
        ap_ = [a["per_call_ms_p50"] for a in acms]
        rm = [r["per_call_ms_mean"] for r in raws]
        am = [a["per_call_ms_mean"] for a in acms]
        return {
            "rounds": rounds,
            "raw_p50_ms_by_round": rp,
            "agent_codemode_p50_ms_by_round": ap_,
            "raw_p50_ms_median": statistics.median(rp),
            "agent_codemode_p50_ms_median": statistics.median(ap_),
            "raw_mean_ms_median": statistics.median(rm),
            "agent_codemode_mean_ms_median": statistics.median(am),
            "ratio_p50": statistics.median(ap_) / statistics.median(rp),
            "ratio_mean": statistics.median(am) / statistics.median(rm),
        }
    except (KeyError, TypeError, ZeroDivisionError, statistics.StatisticsError) as e:
        return {"error": repr(e)}


def errors_in(value: Any, path: str = "") -> list[str]:
    """Every `error` field in the measurements, as 'path: error'."""
    if isinstance(value, dict):
        found = [f"{path or '/'}: {value['error']}"] if "error" in value else []
        for key, item in value.items():
            found += errors_in(item, f"{path}/{key}")
        return found
    if isinstance(value, list):
        return [e for n, item in enumerate(value) for e in errors_in(item, f"{path}[{n}]")]
    return []


def report(out: dict[str, Any]) -> None:
    """The comparison as tables: per-call latency, bindings ready, the server's execute."""
    raw, acm = out["raw_mcp_sdk"], out.get("agent_codemode", {})
    summary = out.get("per_call_summary", {})
    rows = [["raw mcp SDK: ClientSession.call_tool", raw.get("per_call_ms_p50", "-"), 1.0]]
    if "ratio_p50" in summary:
        rows = [
            ["raw mcp SDK: ClientSession.call_tool", summary["raw_p50_ms_median"], 1.0],
            [
                "agent-codemode: calls in one execute, thread bridge",
                summary["agent_codemode_p50_ms_median"],
                summary["ratio_p50"],
            ],
        ]
    print_table(
        f"Per-call latency, echo over stdio, p50 ms (median of {summary.get('rounds', 1)} "
        "rounds; ratio vs the raw SDK)",
        ["", "p50 ms", "ratio"],
        rows,
    )
    ready = [
        [f"raw SDK: process start -> list_tools of {r['tools']} tools", r["list_ready_s"]]
        for r in raw.get("list_ready", [])
        if "list_ready_s" in r
    ]
    ready += [
        [f"agent-codemode: process start -> {v['tools']} bindings", v["bindings_ready_s"]]
        for k, v in acm.items()
        if k.startswith("bindings_ready_") and isinstance(v, dict) and "bindings_ready_s" in v
    ]
    if ready:
        print_table("Bindings ready, s", ["", "s"], ready)
    server = out.get("agent_codemode_server", {})
    if "execute_code_ms_p50" in server:
        print(
            f"  agent-codemode MCP server: execute_code('x = 1') p50 "
            f"{server['execute_code_ms_p50']:.2f} ms over {server['calls']} calls"
        )
    if acm.get("deadlocked_by_default"):
        print("  agent-codemode's default path deadlocked on its first tool call (bounded probe).")
    if "skipped" in acm:
        print(f"  agent-codemode: {acm['skipped']}")
    if "ratio_p50" in summary:
        print(
            f"agent-codemode / raw SDK per-call p50: {summary['agent_codemode_p50_ms_median']:.3f}"
            f" ms / {summary['raw_p50_ms_median']:.3f} ms = {summary['ratio_p50']:.2f}x"
        )
    elif "per_call_ms_p50" in raw:
        print(f"raw mcp SDK per-call p50: {raw['per_call_ms_p50']:.3f} ms (no peer to compare)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--many-tools", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-server", action="store_true")
    add_quick_flag(ap)
    args = ap.parse_args()
    quick = apply_quick(ap, args, {"calls": 50, "many_tools": 100, "rounds": 1})

    main_py = sys.executable  # has mcp 2.x: runs the echo server and the raw SDK
    echo = [main_py, str(HERE / "_echo_server.py")]
    try:
        peer_py = str(ensure_peer_venv("agent-codemode", [REQUIREMENT], timeout=INSTALL_TIMEOUT))
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        print(f"agent-codemode: skipped, it could not be installed from PyPI ({why})", flush=True)
        out = {
            "raw_mcp_sdk": raw_calls(main_py, echo, args.calls),
            "agent_codemode": {"skipped": f"could not be installed: {why}"},
        }
        report(out)
        print(json.dumps(out, indent=2), flush=True)
        # Quick mode is a smoke run: a missing peer is said, not fatal. A full run is not
        # a comparison without it.
        sys.exit(0 if quick else 1)
    tools_cmds = [[*echo, "--tools", "3"], [*echo, "--tools", str(args.many_tools)]]

    # Per-call latency is noisy on a small shared VM: alternate raw and peer runs
    # for --rounds rounds and compare medians. Round 0 of the peer also probes the
    # default path and measures bindings-ready.
    raws, acms = [], []
    for i in range(args.rounds):
        raws.append(raw_calls(main_py, echo, args.calls))
        cmd = [
            peer_py,
            str(HERE / "agent_codemode_echo.py"),
            "--server-cmd",
            json.dumps(echo),
            "--calls",
            str(args.calls),
        ]
        if i == 0:
            cmd += ["--tools-server-cmds", json.dumps(tools_cmds)]
        else:
            cmd += ["--mode", "calls"]
        acms.append(run_json(cmd, 900))
    raw, acm = raws[0], acms[0]
    raw["list_ready"] = [
        run_json(
            [main_py, str(HERE / "_raw_sdk.py"), "--mode", "list", "--server-cmd", json.dumps(c)],
            180,
        )
        for c in tools_cmds
    ]
    out = {"raw_mcp_sdk": raw, "agent_codemode": acm}
    if not args.skip_server:
        out["agent_codemode_server"] = run_json(
            [
                main_py,
                str(HERE / "agent_codemode_server.py"),
                "--peer-python",
                peer_py,
                "--server-cmd",
                json.dumps(echo),
                "--calls",
                str(min(200, args.calls)),
                "--probe-tool-call",
            ],
            400,
        )
    out["per_call_summary"] = per_call_summary(raws, acms, args.rounds)
    failed = errors_in(out)
    report(out)
    for error in failed:
        print(f"  failed: {error}")
    print(json.dumps(out, indent=2), flush=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
