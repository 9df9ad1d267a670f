"""Benchmark binding generation and loading: 10 sources x 100 tools.

Run: `.venv/bin/python benchmarks/bench_bindings.py [--sources 10] [--tools 100] [--quick]`
(`--quick`: 2 sources x 20 tools, 2 rounds, one fresh process).

Measures, each as the median of several rounds:
- generate: `generate_module` for every source (source text only);
- cold: generate + write + import every source into a fresh `ToolsNamespace`
  (empty cache directory, so no `.py` and no `__pycache__`);
- warm: a fresh `ToolsNamespace` over the already-populated cache directory, which is
  what a kernel start (or the bridge) pays;
- warm, fresh process: the same in a new interpreter (first imports included), as a
  kernel really starts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _quick import add_quick_flag, apply_quick
from _report import print_table

from toolkernel import ToolSpec
from toolkernel.bindings import BindingCache, ToolsNamespace, generate_module


def make_tool(source: str, index: int) -> ToolSpec:
    """A tool shaped like real catalogs: a few scalars, an enum, a nested object."""
    properties = {
        "path": {"type": "string", "description": f"Path number {index} to act on."},
        "limit": {"type": "integer", "description": "Maximum items.", "default": 10},
        "mode": {"enum": ["fast", "safe", "thorough"], "description": "How hard to try."},
        "tags": {"type": "array", "items": {"type": "string"}},
        "options": {
            "type": "object",
            "properties": {"recursive": {"type": "boolean"}, "max-depth": {"type": "integer"}},
            "required": ["recursive"],
        },
    }
    output = None
    if index % 3 == 0:
        output = {
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "string"}}},
            "required": ["items"],
        }
    return ToolSpec(
        source=source,
        name=f"tool-{index:03d}",
        description=f"Tool {index} of {source}: does one thing well.\n\nLonger notes here.",
        input_schema={"type": "object", "properties": properties, "required": ["path"]},
        output_schema=output,
    )


def make_catalogs(sources: int, tools: int) -> dict[str, list[ToolSpec]]:
    return {
        f"server-{s}": [make_tool(f"server-{s}", t) for t in range(tools)] for s in range(sources)
    }


def timed(action: Callable[[], object], rounds: int) -> float:
    """Median wall time of `action` in milliseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def load_all(directory: Path, catalogs: dict[str, list[ToolSpec]]) -> ToolsNamespace:
    namespace = ToolsNamespace(BindingCache(directory), name="bench_tools")
    for source, specs in catalogs.items():
        namespace.set_source(source, specs)
    return namespace


FRESH_PROCESS = """
import json, sys, time
t0 = time.perf_counter()
import toolkernel.bindings
sys.path.insert(0, {bench_dir!r})
from bench_bindings import load_all, make_catalogs
catalogs = make_catalogs({sources}, {tools})
t1 = time.perf_counter()
load_all(__import__("pathlib").Path({cache!r}), catalogs)
t2 = time.perf_counter()
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "load_ms": (t2 - t1) * 1000}}))
"""


def fresh_process_load(cache: Path, sources: int, tools: int) -> dict[str, float]:
    """Warm load in a new interpreter; returns its import and load times."""
    code = FRESH_PROCESS.format(
        bench_dir=str(Path(__file__).parent), cache=str(cache), sources=sources, tools=tools
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--tools", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fresh", type=int, default=3, help="fresh-process loads")
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"sources": 2, "tools": 20, "rounds": 2, "fresh": 1})
    catalogs = make_catalogs(args.sources, args.tools)

    def generate_all() -> None:
        for source, specs in catalogs.items():
            generate_module(source, specs)

    def cold() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            load_all(Path(tmp), catalogs)

    with tempfile.TemporaryDirectory() as tmp:
        load_all(Path(tmp), catalogs)
        warm_ms = timed(lambda: load_all(Path(tmp), catalogs), args.rounds)
        fresh = [fresh_process_load(Path(tmp), args.sources, args.tools) for _ in range(args.fresh)]
    results = {
        "sources": args.sources,
        "tools_per_source": args.tools,
        "generate_all_ms": round(timed(generate_all, args.rounds), 2),
        "generate_per_source_ms": round(timed(generate_all, args.rounds) / args.sources, 2),
        "cold_generate_and_load_all_ms": round(timed(cold, args.rounds), 2),
        "warm_load_all_ms": round(warm_ms, 2),
        "warm_load_all_fresh_process_ms": round(statistics.median(f["load_ms"] for f in fresh), 2),
    }
    print_table(
        f"Bindings for {args.sources} sources x {args.tools} tools, ms (median of {args.rounds})",
        ["", "ms"],
        [
            ["generate source text, all sources", results["generate_all_ms"]],
            ["cold: generate + write + import", results["cold_generate_and_load_all_ms"]],
            ["warm: load from the cache", results["warm_load_all_ms"]],
            ["warm, in a fresh process", results["warm_load_all_fresh_process_ms"]],
        ],
    )
    cold, warm = results["cold_generate_and_load_all_ms"], results["warm_load_all_ms"]
    print(f"warm load {warm:.2f} ms against cold {cold:.2f} ms ({cold / warm:.1f}x faster)")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
