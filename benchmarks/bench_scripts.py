"""Script tools: a cold call under bubblewrap against a bare spawn; warm persistent calls.

Run: `.venv/bin/python benchmarks/bench_scripts.py [--cold 30] [--calls 300] [--rounds 2]
[--quick]` (`--quick`: 3 cold calls, 20 warm calls, one round).

Measured side by side in one run:

- baseline: a bare `python3 -c pass` spawn (subprocess, no sandbox);
- a bare spawn of the same one-shot script, answering one JSON-RPC `execute`;
- a cold call of that script tool through `ToolHost.call` under bwrap (a new sandboxed
  process per call), and the same under firejail;
- the bwrap cold call again with no spare: the run's process joins its cgroup on the
  way in, which waits for an RCU grace period (the cost a spare takes off the path);
- a warm call to a persistent worker (one process answers every call) through
  `ToolHost.call`, and from a kernel cell.

Goals (issue 5): cold call under bwrap <= 1.5x the bare `python3 -c pass` spawn; warm
call to a persistent worker p50 <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench_support import json_from_fresh_kernel, summary, write_config
from _quick import add_quick_flag, apply_quick
from _report import latency_table

REPO = Path(__file__).resolve().parents[1]
ONE_SHOT = """\
import json, sys
request = json.loads(sys.stdin.readline())
print(json.dumps({"jsonrpc": "2.0", "result": request["params"]["arguments"], "id": request["id"]}))
"""
WORKER = """\
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    reply = {"jsonrpc": "2.0", "result": request["params"]["arguments"], "id": request["id"]}
    sys.stdout.write(json.dumps(reply) + "\\n")
    sys.stdout.flush()
"""
SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}}
REQUEST = json.dumps(
    {"jsonrpc": "2.0", "method": "execute", "params": {"arguments": {"x": 1}}, "id": 1}
)


def timed(action: Any, count: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


# The interpreter a sandboxed script gets (the sandbox's PATH): the same one, bare, is
# the fair baseline. A `python3` found first on the caller's PATH may be a slow shim.
PYTHON3 = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "python3"


def bare_spawns(work: Path, count: int) -> dict[str, list[float]]:
    script = work / "one_shot.py"
    script.write_text(ONE_SHOT, encoding="utf-8")

    def python_pass() -> None:
        subprocess.run([PYTHON3, "-c", "pass"], check=True)

    def script_once() -> None:
        done = subprocess.run(
            [PYTHON3, str(script)],
            input=REQUEST + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
        assert '"x": 1' in done.stdout

    return {
        "bare `python3 -c pass`": timed(python_pass, count),
        "bare spawn of the script": timed(script_once, count),
    }


def host_calls(work: Path, backend: str, cold: int, warm: int) -> dict[str, list[float]]:
    from toolkernel.session._toolbox import Toolbox

    toolbox = Toolbox(
        home=work / f"home-{backend}",
        config_path=write_config(work / "mcp.json", {}),
        sandbox_backend=backend,
    )
    toolbox.host.start()
    host = toolbox.host
    loop = asyncio.new_event_loop()
    try:
        toolbox.create_tool(
            "once", kind="script", language="python", source=ONE_SHOT, input_schema=SCHEMA
        )
        toolbox.create_tool(
            "warm",
            kind="script",
            language="python",
            source=WORKER,
            input_schema=SCHEMA,
            persistent=True,
        )

        def call(name: str) -> None:
            loop.run_until_complete(asyncio.wait_for(host.call(name, {"x": 1}), 60))

        rows = {
            f"cold call under {backend} (ToolHost.call)": timed(lambda: call("local.once"), cold)
        }
        if backend == "bwrap":
            rows["cold call under bwrap, no spare (joins its cgroup)"] = without_spares(
                lambda: timed(lambda: call("local.once"), cold)
            )
            # Private: only a benchmark runs its own code on the host's loop.
            on_loop = asyncio.run_coroutine_threadsafe(_on_loop(host, warm), host._loop)
            inner = on_loop.result(300)
            rows["warm persistent worker, on the host loop"] = inner
            rows["warm persistent worker, submitted"] = timed(lambda: call("local.warm"), warm)
        return rows
    finally:
        loop.close()
        toolbox.stop()


def without_spares(measure: Callable[[], list[float]]) -> list[float]:
    """`measure()` with `TOOLKERNEL_SANDBOX_SPARES=0`: each run joins its cgroup itself."""
    from toolkernel_sandbox.process._spares import SPARES_VARIABLE

    before = os.environ.get(SPARES_VARIABLE)
    os.environ[SPARES_VARIABLE] = "0"
    try:
        return measure()
    finally:
        if before is None:
            del os.environ[SPARES_VARIABLE]
        else:
            os.environ[SPARES_VARIABLE] = before


async def _on_loop(host: Any, count: int) -> list[float]:
    for _ in range(10):
        await host.call("local.warm", {"x": 1})
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await host.call("local.warm", {"x": 1})
        samples.append((time.perf_counter() - started) * 1000)
    return samples


CELL = """
import time as _t
for _ in range(10):
    await tools.local.warm(x=1)
_samples = []
for _ in range({count}):
    _s = _t.perf_counter()
    await tools.local.warm(x=1)
    _samples.append((_t.perf_counter() - _s) * 1000)
print(__import__("json").dumps(_samples))
"""


def kernel_calls(work: Path, count: int) -> list[float]:
    setup = (
        f"create_tool('warm', kind='script', language='python', source={WORKER!r}, "
        f"input_schema={SCHEMA!r}, persistent=True)"
    )
    return list(json_from_fresh_kernel(work, setup, CELL.format(count=count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=30)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"cold": 3, "calls": 20, "rounds": 1})
    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="tk-bench-scripts-") as tmp:
            work = Path(tmp)
            for label, samples in bare_spawns(work, args.cold).items():
                rows.setdefault(label, []).extend(samples)
            for backend in ("bwrap", "firejail"):
                for label, samples in host_calls(work, backend, args.cold, args.calls).items():
                    rows.setdefault(label, []).extend(samples)
            rows.setdefault("warm persistent worker, from a kernel cell", []).extend(
                kernel_calls(work, args.calls)
            )
    results = {label: summary(samples) for label, samples in rows.items()}
    latency_table("script tool calls", results)
    bare = results["bare `python3 -c pass`"]["p50"]
    cold = results["cold call under bwrap (ToolHost.call)"]["p50"]
    warm = results["warm persistent worker, from a kernel cell"]["p50"]
    results_json: dict[str, Any] = {"bench": "scripts", **results}
    results_json["goals"] = [
        {
            "goal": "cold script call under bwrap <= 1.5x a bare python3 -c pass",
            "value": round(cold / bare, 2),
            "met": cold <= 1.5 * bare,
        },
        {
            "goal": "warm persistent worker call p50 <= 1 ms (kernel cell)",
            "value_ms": round(warm, 3),
            "met": warm <= 1.0,
        },
    ]
    print(f"cold bwrap call / bare python3 -c pass = {cold / bare:.2f}x")
    print(json.dumps(results_json))


if __name__ == "__main__":
    sys.exit(main())
