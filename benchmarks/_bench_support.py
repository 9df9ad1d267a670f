"""Shared pieces of the kernel benchmarks: kernels, the raw-SDK worker, tables, cleanup.

- `BenchKernel`: a real kernel (toolkernel or python3) driven through `tests/kernel_driver.py`,
  whose shutdown also ends any MCP server process it left behind (by pid).
- `time_to_ready`: wall time from `KernelManager.start_kernel` to the first execute reply
  whose user expression has the expected value.
- `RawWorker`: the persistent client of `_raw_echo_worker.py` (raw SDK, or toolkernel's
  bindings in a plain process).
- `summary`, `median`: the statistics the reports print (tables: `_report.py`).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import zmq

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTS = REPO / "tests"
SERVERS = TESTS / "servers"
sys.path.insert(0, str(TESTS))

from _processes import end_processes  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

from kernel_driver import KernelDriver  # noqa: E402

PYTHON = sys.executable
# Kernels here talk over ipc sockets; retry a not-yet-bound socket every 5 ms, not 100 ms,
# so a start time is not rounded up to the client's reconnect interval.
zmq.Context.instance().setsockopt(zmq.RECONNECT_IVL, 5)


def server_entry(script: str, *args: str) -> dict[str, Any]:
    """An mcp.json entry that runs one of tests/servers/ over stdio."""
    return {"command": PYTHON, "args": [str(SERVERS / script), *args]}


def write_config(path: Path, servers: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}, indent=1), encoding="utf-8")
    return path


def kernel_env(home: Path, config: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["TOOLKERNEL_HOME"] = str(home)
    env.pop("TOOLKERNEL_MCP_CONFIG", None)
    if config is not None:
        env["TOOLKERNEL_MCP_CONFIG"] = str(config)
    return env


class BenchKernel(KernelDriver):
    """A started kernel plus a blocking client; `shutdown()` leaves no process behind."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        kernel_name: str = "toolkernel",
        wait_ready: bool = True,
    ) -> None:
        """Start the kernel; with `wait_ready`, return once it answers kernel_info."""
        self._sockets = Path(tempfile.mkdtemp(prefix="tkb-ipc-"))
        self.manager = KernelManager(
            kernel_name=kernel_name, transport="ipc", ip=str(self._sockets / "kernel")
        )
        # The kernel's own output (logs, jupyter_client's SIGINT at shutdown) goes to a
        # file, shown only when it holds a traceback.
        self._log = (self._sockets / "kernel.log").open("w", encoding="utf-8")
        self.started = time.perf_counter()
        """When `start_kernel` was called (a `time.perf_counter()` value)."""
        self.manager.start_kernel(env=env, cwd=str(cwd), stdout=self._log, stderr=self._log)
        self.pid: int = self.manager.provisioner.pid  # type: ignore[union-attr]
        self.client = self.manager.client()
        self.client.start_channels()
        if wait_ready:
            self.client.wait_for_ready(timeout=60)

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def shutdown(self) -> None:
        """Shut the kernel down, then end (by pid) any child it left running."""
        children = self.children()
        try:
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=False, restart=False)
        finally:
            end_processes(children)
            self._log.close()
            log = (self._sockets / "kernel.log").read_text(encoding="utf-8", errors="replace")
            if "Traceback" in log:
                print(f"  (kernel log tail)\n{log[-3000:]}")
            shutil.rmtree(self._sockets, ignore_errors=True)


def time_to_ready(
    kernel: BenchKernel, expression: str, expected: str, timeout: float = 60.0
) -> float:
    """Seconds from `start_kernel` until an execute reply shows `expression` == `expected`.

    Only the shell channel is used: the request is queued before the kernel binds its
    sockets and answered as soon as the kernel runs code, so nothing polls.
    """
    deadline = time.monotonic() + timeout
    while True:
        msg_id = kernel.client.execute(
            "", silent=True, store_history=False, user_expressions={"v": expression}
        )
        reply = kernel.reply_to(msg_id, max(0.1, deadline - time.monotonic()))
        value = reply["content"].get("user_expressions", {}).get("v", {})
        text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
        if text == expected:
            return time.perf_counter() - kernel.started
        if time.monotonic() > deadline:
            msg = f"{expression} was {value!r}, not {expected}, after {timeout} s"
            raise TimeoutError(msg)


class RawWorker:
    """A client in its own process (`_raw_echo_worker.py`), kept warm between requests."""

    def __init__(self, server_cmd: list[str], *, via: str = "sdk", timeout: float = 60.0) -> None:
        """Start the worker and wait (bounded) until its first call is done.

        `via="sdk"` is the raw SDK; `via="toolbox"` is toolkernel's bindings and host in a
        plain process (no Jupyter kernel).
        """
        worker = str(BENCH / "_raw_echo_worker.py")
        self.proc = subprocess.Popen(
            [PYTHON, worker, "--server-cmd", json.dumps(server_cmd), "--via", via],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next(timeout)

    def request(self, timeout: float = 120.0, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._next(timeout)

    def close(self) -> None:
        children = _children(self.proc.pid)
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        end_processes([*children, *_existing(self.proc.pid)], grace=5)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            msg = f"the raw SDK worker gave no answer within {timeout} s"
            raise TimeoutError(msg) from None
        answer: dict[str, Any] = json.loads(line)
        return answer


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _existing(pid: int) -> list[psutil.Process]:
    try:
        return [psutil.Process(pid)]
    except psutil.Error:
        return []


def summary(samples_ms: list[float]) -> dict[str, float]:
    """p50, mean and p90 of a list of milliseconds."""
    ordered = sorted(samples_ms)
    return {
        "p50": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p90": ordered[int(len(ordered) * 0.9) - 1] if len(ordered) >= 10 else ordered[-1],
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def json_from_fresh_kernel(work: Path, setup: str, cell: str, timeout: float = 600.0) -> Any:
    """Start a toolkernel with no servers under `work/kernel`, run `setup`, then `cell`,
    and return the JSON value `cell` printed last."""
    folder = work / "kernel"
    folder.mkdir()
    config = write_config(folder / "mcp.json", {})
    kernel = BenchKernel(env=kernel_env(folder / "home", config), cwd=folder)
    try:
        kernel.execute(setup, timeout=timeout)
        out = kernel.execute(cell, timeout=timeout)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        kernel.shutdown()
