"""Benchmark the registry: BM25 search over 10,000 tools, and `load_catalogs()` at start.

Run with `python benchmarks/bench_search.py [--tools 10000] [--sources 100] [--per-source 100]
[--runs 200] [--quick]`. It builds synthetic but varied catalogs (verbs x objects x
domains, with parameter schemas) in a temporary home, then prints p50/p95 latencies per
query for two layouts: 1 source x 10,000 tools and 100 sources x 100 tools. Targets:
search p50 <= 5 ms; load_catalogs of 10 x 100 tools in a few ms. `--quick`: 1 x 1,000 and
10 x 100 tools, 20 runs per query.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _quick import add_quick_flag, apply_quick

from toolkernel import ToolSpec
from toolkernel.registry import ToolRegistry

VERBS = [
    "read", "write", "list", "delete", "create", "update", "search", "fetch", "send",
    "get", "set", "move", "copy", "rename", "archive", "export", "import", "sync",
    "query", "render", "convert", "validate", "schedule", "cancel", "approve",
]  # fmt: skip
OBJECTS = [
    "file", "directory", "issue", "pull_request", "email", "message", "channel", "user",
    "invoice", "payment", "calendar_event", "table", "row", "document", "image", "video",
    "repository", "branch", "commit", "ticket", "customer", "order", "forecast", "page",
    "bucket", "secret", "container", "deployment", "metric", "alert",
]  # fmt: skip
DOMAINS = [
    "github", "slack", "gmail", "stripe", "jira", "notion", "postgres", "s3", "docker",
    "kubernetes", "weather", "calendar", "drive", "linear", "sentry", "grafana", "shopify",
    "figma", "zendesk", "twilio",
]  # fmt: skip
FILLER = [
    "quickly", "securely", "with pagination", "using the REST API", "for the current workspace",
    "and returns JSON", "by identifier", "in bulk", "with retries", "from the cache",
]  # fmt: skip

QUERIES = [
    "read a file",
    "send an email to a customer",
    "list github issues",
    "weather forecast",
    "create",
    "delete kubernetes deployment by id",
    "how do I query rows in a postgres table?",
    "xyzzy plugh",
    '"foo* OR (bar NEAR(',
    "github.list_issue_3",
]


def make_specs(source: str, count: int, rng: random.Random) -> list[ToolSpec]:
    specs = []
    for index in range(count):
        verb, obj, domain = rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(DOMAINS)
        name = f"{verb}_{obj}" if index < 50 else f"{domain}_{verb}_{obj}_{index}"
        if index % 3 == 0:
            name = name.replace("_", "-")
        words = obj.replace("_", " ")
        description = (
            f"{verb.capitalize()} a {words} in {domain.capitalize()} "
            f"{rng.choice(FILLER)}. Requires a {domain} token."
        )
        schema = {
            "type": "object",
            "properties": {
                f"{obj}_id": {"type": "string", "description": f"Identifier of the {words}"},
                "limit": {"type": "integer", "description": "Maximum number of results"},
                "options": {
                    "type": "object",
                    "properties": {
                        "format": {"type": "string", "enum": ["json", "csv"]},
                        f"{domain}_region": {"type": "string", "description": "Region"},
                    },
                },
            },
            "required": [f"{obj}_id"],
        }
        specs.append(ToolSpec(source, name, description, schema))
    return list({spec.name: spec for spec in specs}.values())


def timed(func: Callable[[], object], runs: int) -> tuple[float, float]:
    """Return the p50 and p95 of `runs` calls, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def bench_layout(home: Path, sources: int, per_source: int, runs: int) -> list[float]:
    rng = random.Random(7)
    registry = ToolRegistry(home)
    start = time.perf_counter()
    for number in range(sources):
        name = "github" if sources == 1 else f"server{number:03d}"
        registry.save_catalog(name, make_specs(name, per_source, rng))
    total = len(registry.list_tools())
    fill = time.perf_counter() - start
    print(f"\n{sources} source(s) x {per_source} tools = {total} tools (saved in {fill:.2f} s)")
    print(f"  {'query':44} {'p50 ms':>8} {'p95 ms':>8}  hits  first")
    medians = []
    for query in QUERIES:
        hits = registry.search(query)
        p50, p95 = timed(partial(registry.search, query), runs)
        medians.append(p50)
        first = hits[0].spec.qualified_name if hits else "-"
        print(f"  {query!r:44} {p50:8.3f} {p95:8.3f}  {len(hits):4}  {first}")
    some = [f"server{n:03d}" for n in range(0, sources, 10)] or ["github"]
    p50, p95 = timed(lambda: registry.search("send email", sources=some), runs)
    print(f"  {'send email, sources=' + str(len(some)):44} {p50:8.3f} {p95:8.3f}")
    registry.close()
    return medians


def bench_load_catalogs(home: Path, runs: int) -> dict[str, float]:
    rng = random.Random(11)
    with ToolRegistry(home) as registry:
        for number in range(10):
            name = f"server{number}"
            registry.save_catalog(name, make_specs(name, 100, rng))
    # A fresh registry, as on kernel start: open + load.
    p50_open, p95_open = timed(lambda: ToolRegistry(home).close(), max(5, runs // 4))
    with ToolRegistry(home) as registry:
        count = sum(len(specs) for specs in registry.load_catalogs().values())
        p50, p95 = timed(registry.load_catalogs, max(5, runs // 2))
    print(f"\nload_catalogs(): 10 sources x 100 tools = {count} tools")
    print(f"  load_catalogs p50 {p50:.3f} ms, p95 {p95:.3f} ms")
    print(f"  ToolRegistry(home) open p50 {p50_open:.3f} ms, p95 {p95_open:.3f} ms")
    return {"load_catalogs_10x100_p50_ms": p50, "registry_open_p50_ms": p50_open}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=10_000, help="tools of the one-source layout")
    parser.add_argument("--sources", type=int, default=100, help="sources of the many layout")
    parser.add_argument("--per-source", type=int, default=100, help="tools per source there")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per query")
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"tools": 1000, "sources": 10, "runs": 20})
    with tempfile.TemporaryDirectory(prefix="toolkernel-bench-") as tmp:
        root = Path(tmp)
        medians = bench_layout(root / "one", 1, args.tools, args.runs)
        medians += bench_layout(root / "many", args.sources, args.per_source, args.runs)
        loads = bench_load_catalogs(root / "start", args.runs)
    verdict = "OK" if max(medians) <= 5.0 else "SLOW"
    print(f"\nworst search p50: {max(medians):.3f} ms (target <= 5 ms): {verdict}")
    layouts = {
        "one_source_tools": args.tools,
        "sources": args.sources,
        "per_source": args.per_source,
    }
    print(json.dumps({"bench": "search", **layouts, "worst_search_p50_ms": max(medians), **loads}))


if __name__ == "__main__":
    main()
