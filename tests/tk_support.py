"""Helpers shared by the integration tests: real MCP server entries and kernels."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

TESTS = Path(__file__).parent
SERVERS = TESTS / "servers"
NPM_BIN = TESTS / "npm" / "node_modules" / ".bin"


def python_server(name: str, *args: str) -> dict[str, Any]:
    """An mcp.json entry that runs one of tests/servers/ over stdio."""
    return {"command": sys.executable, "args": [str(SERVERS / name), *args]}


def npm_server(package_bin: str, *args: str) -> dict[str, Any]:
    """An mcp.json entry for an npm server installed by .ci/setup (never via npx)."""
    path = NPM_BIN / package_bin
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash .ci/setup` to install the npm MCP servers")
    return {"command": str(path), "args": list(args)}


def write_config(path: Path, servers: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}, indent=1), encoding="utf-8")
    return path


def echo_env(base: Path) -> dict[str, str]:
    """This process's environment plus a fresh home under `base` and an mcp.json with echo."""
    config = write_config(base / "mcp.json", {"echo": python_server("echo_server.py")})
    return {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
    }


def start_kernel(base: Path, servers: dict[str, Any] | None, **kwargs: Any) -> Any:
    from kernel_driver import KernelDriver

    home = base / "home"
    home.mkdir(exist_ok=True)
    config = write_config(base / "mcp.json", servers) if servers is not None else None
    return KernelDriver(home=home, config=config, cwd=base, **kwargs)


T = TypeVar("T")


class LoopThread:
    """One event loop in a thread, for a module's tests: a jupyter_client async client is
    bound to the loop it started on, so every test submits to this one."""

    def __init__(self, wait: float = 60.0) -> None:
        self.wait = wait
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.wait)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def modules_loaded_by(module: str, roots: set[str]) -> list[str]:
    """Which of the top-level packages `roots` importing `module` loads, in a fresh
    interpreter (so nothing this test process imported counts)."""
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"roots = set({sorted(roots)!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & roots)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


@contextlib.contextmanager
def http_server(script: str, *args: str) -> Iterator[str]:
    """Run `tests/servers/<script>` over streamable HTTP; yield its URL (from `READY`)."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS / script), *args], stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:  # the server prints READY, or exits and the loop ends
            if line.startswith("READY "):
                url = line.split()[1]
                break
        assert url, f"{script} did not report READY"
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # never blocks it
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def local_web_server(
    answer: Callable[[http.server.BaseHTTPRequestHandler], bytes],
) -> Iterator[int]:
    """A threaded HTTP server on 127.0.0.1 that answers each GET 200 with the body
    `answer(request)` returns; yields its port, and is shut down on exit."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answer(self)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


SIGN_IN_LINK = re.compile(r"open (\S+) in a browser")
"""Finds the authorization link in a server's "needs you to sign in" message."""


def approve(link: str) -> Any:
    """Be the person at the browser: open `link` (a test server approves at once) and
    follow its redirects to the tool host's callback; return the last response."""
    import httpx

    return httpx.get(link, follow_redirects=True, timeout=30)


def oauth_sign_in(home: Path, url: str) -> None:
    """Sign in to server `notes` at `url` once (the browser step) with a host on `home`.

    The host is stopped after; its tokens stay in `<home>/oauth`.
    """
    from toolkernel.config import HttpServer, OAuthSettings
    from toolkernel.host import ToolHost
    from toolkernel.registry import ToolRegistry

    servers = {"notes": HttpServer("notes", url, oauth=OAuthSettings())}
    host = ToolHost(servers, registry=ToolRegistry(home), logs_dir=home / "logs")
    host.start()
    try:
        [status] = asyncio.run(host.statuses(settle=30))
        link = SIGN_IN_LINK.search(status.detail or "")
        assert link, status.detail
        page = approve(link.group(1))
        assert page.status_code == 200, page.text
        assert "Signed in to notes" in page.text
        # A call now waits for the token exchange the browser's answer started.
        result = asyncio.run(asyncio.wait_for(host.call("notes.whoami", {}), 30))
        assert result.content == [{"type": "text", "text": "signed in as toolkernel"}]
    finally:
        host.stop()
