"""Benchmark the panel's REST API: `GET toolkernel/api/tools?q=...` over 10,000 tools.

Run with `python benchmarks/bench_panel_api.py [--sources 40] [--per-source 250]
[--requests 360] [--samples 20] [--quick]` (`--quick`: 4 x 100 tools, 36 searches, 4 samples
of the other requests). It fills a temporary toolkernel home
with 40 catalog sources x 250 varied tools (the generator of `bench_search.py`) plus a
few registry tools, starts a real `jupyter server` subprocess with the toolkernel
extension (token auth, a free port), and times the HTTP round trip from a keep-alive
client, as a browser's `fetch` would make it:

- `GET tools?q=<query>` for a few hundred requests over varied queries (goal: p50 <= 20 ms);
- `GET tools` (all 10,000) cold (first after a change) and warm, with the payload size;
- `GET generation`, which the panel polls every 2 s;
- `GET tools/{name}`, the details view (first one loads the source's bindings).

Ends with one JSON line of the numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import queue
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from _quick import add_quick_flag, apply_quick
from _report import print_table
from bench_search import make_specs

from toolkernel.registry import ToolRegistry

SOURCES = 40
PER_SOURCE = 250
GOAL_P50_MS = 20.0
START_TIMEOUT_S = 60.0
QUERIES = [
    "read a file",
    "send an email to a customer",
    "list github issues",
    "weather forecast",
    "create",
    "delete kubernetes deployment by id",
    "how do I query rows in a postgres table?",
    "stripe invoice",
    "slack message channel",
    "export table csv",
    "rename branch",
    "xyzzy plugh",
    "word count",
    "server007.read_file",
    "approve pull request",
    "sync calendar event",
    "docker container",
    "grafana alert metric",
]


def fill_home(
    home: Path, sources: int = SOURCES, per_source: int = PER_SOURCE, seed: int = 7
) -> int:
    """Fill `home` with `sources` x `per_source` catalog tools and a few WAT registry tools;
    return the count."""
    rng = random.Random(seed)
    with ToolRegistry(home) as registry:
        for number in range(sources):
            name = f"server{number:03d}"
            specs = make_specs(name, per_source + 10, rng)[:per_source]
            registry.save_catalog(name, specs)
        schema = {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        }
        for tool in ["word_count", "char_count", "primes", "slugify", "rot13"]:
            source = registry.put_blob(f"(module) ;; {tool}\n".encode())
            manifest = {
                "description": f"{tool.replace('_', ' ').capitalize()} of a text (WASM).",
                "language": "wat",
                "input_schema": schema,
                "source": {"tool.wat": source},
            }
            registry.add_version(f"local.{tool}", kind="wasm", manifest=manifest)
        registry.set_server_status("server000", "connected", tool_count=per_source)
        return len(registry.list_tools())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterServer:
    """A `jupyter server` subprocess with the toolkernel extension on `home`."""

    def __init__(self, home: Path, root: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        env = {**os.environ, "TOOLKERNEL_HOME": str(home)}
        env.pop("TOOLKERNEL_MCP_CONFIG", None)
        jupyter = Path(sys.executable).with_name("jupyter")
        self.proc = subprocess.Popen(
            [
                str(jupyter),
                "server",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.jpserver_extensions={'toolkernel': True}",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_ready()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.log.append(line)
            if "is running at" in line:
                if self._accepts_connections(deadline):
                    return
                break
        self.stop()
        tail = "".join(self.log[-20:])
        msg = f"jupyter server did not start within {START_TIMEOUT_S} s:\n{tail}"
        raise RuntimeError(msg)

    def _accepts_connections(self, deadline: float) -> bool:
        """Whether the port accepts a connection before `deadline`.

        The "is running at" line is logged just before the port is bound, so each
        refused attempt is retried (every 20 ms) until the deadline.
        """
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.02)
            else:
                return True
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Client:
    """One keep-alive HTTP connection with token auth."""

    def __init__(self, server: JupyterServer) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        self.headers = {"Authorization": f"token {server.token}"}

    def get(self, path: str, **params: Any) -> tuple[float, bytes]:
        """GET `toolkernel/api/<path>`; return (milliseconds, body)."""
        url = f"/toolkernel/api/{path}" + (f"?{urlencode(params)}" if params else "")
        start = time.perf_counter()
        self.conn.request("GET", url, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            msg = f"GET {url} answered {response.status}: {body[:300]!r}"
            raise RuntimeError(msg)
        return elapsed, body


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="toolkernel-panel-bench-") as tmp:
        home, root = Path(tmp) / "home", Path(tmp) / "root"
        root.mkdir()
        start = time.perf_counter()
        total = fill_home(home, args.sources, args.per_source)
        print(f"registry: {total} tools ({args.sources} sources x {args.per_source} + 5 WASM "
              f"tools), filled in {time.perf_counter() - start:.1f} s")  # fmt: skip
        start = time.perf_counter()
        server = JupyterServer(home, root)
        started = time.perf_counter() - start
        print(f"jupyter server with the toolkernel extension up in {started:.1f} s")
        try:
            return measure(Client(server), args.requests, total, home, args.samples)
        finally:
            server.stop()


def after_changes(client: Client, home: Path, runs: int = 5) -> dict[str, list[float]]:
    """Time the first search, and the first full list, after a write by another process.

    A status write leaves the tool set (and its cached summaries) alone; a new tool
    version invalidates them, and the next full list rebuilds them.
    """
    times: dict[str, list[float]] = {"status": [], "search": [], "list": []}
    with ToolRegistry(home) as registry:
        for number in range(runs):
            registry.set_server_status("server001", "connected", tool_count=number)
            times["status"].append(client.get("tools", q="read a file")[0])
            manifest = registry.tool_version("local.rot13").manifest
            registry.add_version("local.rot13", kind="wasm", manifest={**manifest, "n": number})
            times["search"].append(client.get("tools", q="read a file")[0])
            times["list"].append(client.get("tools")[0])
    return times


def measure(
    client: Client, requests: int, total: int, home: Path, samples: int = 20
) -> dict[str, Any]:
    """Time every request; `samples` sets how many of the others (20: 20 full lists,
    200 `generation`, 50 details, 5 of each after-change request)."""
    cold_ms, body = client.get("tools")
    listed = json.loads(body)
    if listed["total"] != total:
        msg = f"GET tools listed {listed['total']} tools, the registry holds {total}"
        raise RuntimeError(msg)
    warm = [client.get("tools")[0] for _ in range(samples)]
    search: list[float] = []
    per_query: dict[str, list[float]] = {query: [] for query in QUERIES}
    hits: dict[str, int] = {}
    for number in range(requests):
        query = QUERIES[number % len(QUERIES)]
        elapsed, found = client.get("tools", q=query)
        search.append(elapsed)
        per_query[query].append(elapsed)
        hits[query] = json.loads(found)["total"]
    generation = [client.get("generation")[0] for _ in range(samples * 10)]
    changes = max(2, samples // 4)
    changed = after_changes(client, home, changes)
    name = quote(listed["tools"][min(1234, len(listed["tools"]) - 1)]["name"], safe="")
    first_details, _ = client.get(f"tools/{name}")
    details = [client.get(f"tools/{name}")[0] for _ in range(samples * 5 // 2)]

    rows = [
        [query, len(samples), hits[query], *percentiles(samples)]
        for query, samples in per_query.items()
    ]
    print_table("GET tools?q=... per query (ms)", ["query", "runs", "hits", "p50", "p95"], rows)
    search_p50, search_p95 = percentiles(search)
    warm_p50, warm_p95 = percentiles(warm)
    gen_p50, gen_p95 = percentiles(generation)
    det_p50, det_p95 = percentiles(details)
    print_table(
        "REST round trips (ms)",
        ["request", "runs", "p50", "p95"],
        [
            [f"GET tools?q= (all {len(QUERIES)} queries)", len(search), search_p50, search_p95],
            [f"GET tools (all {total}), first after start", 1, cold_ms, cold_ms],
            [f"GET tools (all {total}), warm", len(warm), warm_p50, warm_p95],
            ["GET generation", len(generation), gen_p50, gen_p95],
            ["GET tools?q=, first after a status write", changes, *percentiles(changed["status"])],
            ["GET tools?q=, first after a new version", changes, *percentiles(changed["search"])],
            [
                f"GET tools (all {total}), after a new version",
                changes,
                *percentiles(changed["list"]),
            ],
            ["GET tools/{name}, first (loads bindings)", 1, first_details, first_details],
            ["GET tools/{name}, warm", len(details), det_p50, det_p95],
        ],
    )
    verdict = "OK" if search_p50 <= GOAL_P50_MS else "SLOW"
    print(f"\nsearch p50 {search_p50:.2f} ms (goal <= {GOAL_P50_MS:.0f} ms): {verdict}")
    print(f"unfiltered list payload: {len(body) / 1e6:.2f} MB for {total} tools")
    return {
        "tools": total,
        "search_requests": len(search),
        "search_p50_ms": round(search_p50, 3),
        "search_p95_ms": round(search_p95, 3),
        "list_all_first_ms": round(cold_ms, 2),
        "list_all_warm_p50_ms": round(warm_p50, 2),
        "list_all_bytes": len(body),
        "generation_p50_ms": round(gen_p50, 3),
        "search_after_new_version_p50_ms": round(percentiles(changed["search"])[0], 2),
        "list_all_after_new_version_p50_ms": round(percentiles(changed["list"])[0], 2),
        "details_first_ms": round(first_details, 2),
        "details_warm_p50_ms": round(det_p50, 3),
        "goal_search_p50_ms": GOAL_P50_MS,
        "ok": search_p50 <= GOAL_P50_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=360, help="GET tools?q= requests")
    parser.add_argument("--sources", type=int, default=SOURCES, help="catalog sources")
    parser.add_argument("--per-source", type=int, default=PER_SOURCE, help="tools per source")
    parser.add_argument("--samples", type=int, default=20, help="scales the other requests")
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"sources": 4, "per_source": 100, "requests": 36, "samples": 4})
    print(json.dumps(bench(args)))


if __name__ == "__main__":
    main()
