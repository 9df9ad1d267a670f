"""One run, side by side: raw mcp SDK vs agent-codemode on the same echo server.

Run with /work/main/.venv/bin/python (mcp 2.3.0):
    python benchmarks/peers/compare.py [--calls 500] [--skip-server]
Creates the peer venv on first use (benchmarks/.venvs/agent-codemode/), runs
every measurement in its own bounded subprocess and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _venv import ensure_peer_venv  # noqa: E402

REQUIREMENT = "agent-codemode==1.1.1"


def run_json(cmd: list[str], timeout: float) -> dict:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "cmd": cmd}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": f"exit {p.returncode}", "stderr_tail": p.stderr[-2000:]}
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--many-tools", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-server", action="store_true")
    args = ap.parse_args()

    main_py = sys.executable  # has mcp 2.x: runs the echo server and the raw SDK
    peer_py = str(ensure_peer_venv("agent-codemode", [REQUIREMENT]))
    echo = [main_py, str(HERE / "_echo_server.py")]
    tools_cmds = [[*echo, "--tools", "3"], [*echo, "--tools", str(args.many_tools)]]

    # Per-call latency is noisy on a small shared VM: alternate raw and peer runs
    # for --rounds rounds and compare medians. Round 0 of the peer also probes the
    # default path and measures bindings-ready.
    raws, acms = [], []
    for i in range(args.rounds):
        raws.append(
            run_json(
                [
                    main_py,
                    str(HERE / "_raw_sdk.py"),
                    "--server-cmd",
                    json.dumps(echo),
                    "--calls",
                    str(args.calls),
                ],
                300,
            )
        )
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
                "--probe-tool-call",
            ],
            400,
        )
    try:
        rp = [r["per_call_ms_p50"] for r in raws]
        ap_ = [a["per_call_ms_p50"] for a in acms]
        rm = [r["per_call_ms_mean"] for r in raws]
        am = [a["per_call_ms_mean"] for a in acms]
        out["per_call_summary"] = {
            "rounds": args.rounds,
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
        out["per_call_summary"] = {"error": repr(e)}
    print(json.dumps(out, indent=2), flush=True)


if __name__ == "__main__":
    main()
