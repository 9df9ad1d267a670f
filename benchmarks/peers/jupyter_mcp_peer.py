"""jupyter-mcp-server (Datalayer, PyPI) for the bridge benchmark, in its own venv.

How it runs code (read from its installed source, 2.2.4):

- It is an MCP server (stdio by default) that drives a *Jupyter Server* over HTTP and
  WebSocket: `JUPYTER_URL` + `JUPYTER_TOKEN` name the server, `DOCUMENT_ID` the notebook
  (relative to the server's root) it enrolls at start. With `START_NEW_CODE_SANDBOX`
  (default true) it starts a kernel for that notebook through the server's REST API.
- `execute_code(code, timeout=30, kernel_id=None, progress_interval=5)` runs the code in
  that kernel through `code_sandboxes`' client in a worker thread
  (`asyncio.to_thread(client.execute, ...)`), and the tool waits for that thread with
  `asyncio.sleep(min(1.0, max(0.05, progress_interval / 5)))`: a 1 s tick with the
  default `progress_interval=5` (0.2 s with 1, the smallest integer that changes it).
- `insert_execute_code_cell(cell_index, cell_source)` adds a cell to the notebook (the
  collaboration model) and runs it; its wait loop sleeps `min(1.0, remaining)`, so it is
  a 1 s tick whatever `progress_interval` says.

This module starts what it needs locally: `jupyter lab` from the peer venv on a free
127.0.0.1 port with a random token and `--allow-root`, root in a temp dir holding an
empty `bench.ipynb`; then `jupyter-mcp-server` over stdio with the env vars above.

Used by `benchmarks/bench_bridge.py` (main venv). Alone, it times `execute_code` of
`x = 1` and prints one JSON object:

    .venv/bin/python benchmarks/peers/jupyter_mcp_peer.py [--calls 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _venv import ensure_peer_venv  # noqa: E402

VENV_NAME = "jupyter-mcp-server"
REQUIREMENTS = ["jupyter-mcp-server==2.2.4", "jupyterlab", "ipykernel"]
NOTEBOOK = "bench.ipynb"
PACKAGES = ["jupyter-mcp-server", "jupyterlab", "jupyter_server", "ipykernel", "mcp"]


def peer_python() -> Path:
    """The peer venv's python (built once, ~1 min, by `ensure_peer_venv`)."""
    return ensure_peer_venv(VENV_NAME, REQUIREMENTS)


def versions(python: Path) -> dict[str, str]:
    """Installed versions of the packages that matter, read in the peer venv."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: out[p] = None\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *PACKAGES], check=True, capture_output=True, text=True, timeout=60
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_notebook(path: Path) -> None:
    notebook = {
        "cells": [],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook), encoding="utf-8")


class JupyterLab:
    """`jupyter lab` from the peer venv on 127.0.0.1, with a token; `stop()` ends it by pid."""

    def __init__(self, python: Path, workdir: Path, *, timeout: float = 90.0) -> None:
        """Start the server and wait (bounded) until `/api/status` answers."""
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        write_notebook(self.root / NOTEBOOK)
        self.log_path = workdir / "jupyter-lab.log"
        self._log = self.log_path.open("w", encoding="utf-8")
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        }
        self.proc = subprocess.Popen(
            [
                str(python.parent / "jupyter"),
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--port-retries=0",
                f"--IdentityProvider.token={self.token}",
                "--allow-root",
                f"--ServerApp.root_dir={self.root}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(workdir),
            env=env,
            start_new_session=True,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            f"{self.url}/api/status", headers={"Authorization": f"token {self.token}"}
        )
        while True:
            if self.proc.poll() is not None:
                msg = f"jupyter lab exited ({self.proc.returncode}): {self.log_tail()}"
                raise RuntimeError(msg)
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(request, timeout=2) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                msg = f"jupyter lab did not answer in {timeout:.0f} s: {self.log_tail()}"
                raise TimeoutError(msg)
            time.sleep(0.2)

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the server (it shuts its kernels down), then end leftovers by pid."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=5)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self._log.close()


def server_env(lab: JupyterLab) -> dict[str, str]:
    """What jupyter-mcp-server reads: its README's stdio setup, pointed at `lab`."""
    return {
        "JUPYTER_URL": lab.url,
        "JUPYTER_TOKEN": lab.token,
        "DOCUMENT_ID": NOTEBOOK,
        "ALLOW_IMG_OUTPUT": "false",
    }


def server_command(python: Path) -> str:
    return str(python.parent / "jupyter-mcp-server")


async def _time_alone(args: argparse.Namespace) -> dict[str, Any]:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    python = peer_python()
    out: dict[str, Any] = {"peer": "jupyter-mcp-server", "versions": versions(python)}
    with tempfile.TemporaryDirectory(prefix="jms-bench-") as tmp:
        work = Path(tmp)
        lab = JupyterLab(python, work)
        try:
            params = StdioServerParameters(
                command=server_command(python), args=[], env=server_env(lab), cwd=str(work)
            )
            with (
                (work / "mcp-server.log").open("w") as errlog,
                anyio.fail_after(args.timeout),
            ):
                async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as s:
                    await s.initialize()
                    tools = await s.list_tools()
                    out["server_tools"] = sorted(t.name for t in tools.tools)
                    started = time.perf_counter()
                    await s.call_tool("execute_code", {"code": "x = 1"})
                    out["first_execute_s"] = time.perf_counter() - started
                    times = []
                    for _ in range(args.calls):
                        started = time.perf_counter()
                        result = await s.call_tool("execute_code", {"code": "x = 1"})
                        times.append((time.perf_counter() - started) * 1000)
                        assert not result.is_error, result
                    out.update(
                        calls=args.calls,
                        execute_code_ms_p50=statistics.median(times),
                        execute_code_ms_mean=statistics.fmean(times),
                    )
        finally:
            lab.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    import anyio

    print(json.dumps(anyio.run(_time_alone, args)), flush=True)


if __name__ == "__main__":
    main()
