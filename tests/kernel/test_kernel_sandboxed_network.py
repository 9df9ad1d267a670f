"""The sandboxed kernel's own network allowlist (`TOOLKERNEL_SANDBOX_NETWORK`), end to end.

Real kernels under bubblewrap (and firejail), started by jupyter_client from the
kernelspec, reach a server this test runs on 127.0.0.1 by the listed name only, through
the launcher's filtering proxy; the proxy lives and ends with each launcher.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from sandboxed_support import provisioner_site, sandboxed_spec
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME
from toolkernel.sandboxed import KernelLimits
from toolkernel.sandboxed._launcher import NETWORK_VAR, kernel_policy, network_allowlist

pytestmark = pytest.mark.timeout(240)

_BODY = b"hello from the host"

# A cell's view of a URL: its status and body, or the proxy's refusal (HTTPError).
_GET = """\
import urllib.error, urllib.request
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
"""

# The proxy socket the kernel's forwarder pipes to (its argv, seen in the kernel's /proc).
_PROXY_SOCKET = """\
import os
def proxy_socket():
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                words = f.read().decode().split('\\0')
        except OSError:
            continue
        found = [w for w in words if w.endswith('/proxy.sock')]
        if found:
            return found[0]
    return None
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(_BODY)))
        self.end_headers()
        self.wfile.write(_BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    """A plain HTTP server on the host's 127.0.0.1 (what `localhost` resolves to)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A prefix holding the sandboxed kernelspec, its provisioner registered."""
    site = provisioner_site(tmp_path_factory.mktemp("site"))
    if site is not None:
        sys.path.append(str(site))
    yield sandboxed_spec(tmp_path_factory.mktemp("prefix"))
    if site is not None:
        sys.path.remove(str(site))


class Kernel:
    """A sandboxed kernel started from the kernelspec, with a blocking client."""

    def __init__(self, workspace: Path, env: dict[str, str], log: Path) -> None:
        self.manager = KernelManager(kernel_name=SANDBOXED_KERNEL_NAME)
        self.log = log
        self._err = log.open("wb")  # open for the kernel's life: a restart launches again
        self.manager.start_kernel(env=env, cwd=str(workspace), stderr=self._err)
        self.client = self.manager.client()

    def ready(self) -> Kernel:
        self.client.start_channels()
        self.client.wait_for_ready(timeout=90)
        return self

    def value(self, code: str, expression: str, timeout: float = 60.0) -> Any:
        """Run `code`, then return `expression`'s value (through JSON)."""
        cell = f"{code}\nimport json as _j\nprint(_j.dumps({expression}))"
        msg_id = self.client.execute(cell, store_history=False)
        out, error = "", None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"no idle from the kernel within {timeout} s"
                raise TimeoutError(msg)
            try:
                msg = self.client.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out += content["text"]
            elif kind == "error":
                error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        assert error is None, "\n".join(error["traceback"])
        return json.loads(out.strip().splitlines()[-1])

    def shutdown(self, *, now: bool = True) -> None:
        if self.manager.has_kernel:
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=now)
        self._err.close()


def _python_closed_to_firejail() -> bool:
    """Whether firejail's uid 65534 cannot reach this Python (root, Python under `/root`)."""
    parents = Path(sys.executable).resolve().parents
    return os.geteuid() == 0 and any(not p.stat().st_mode & 0o001 for p in parents)


@pytest.fixture(params=["bwrap", "firejail"])
def backend(request: pytest.FixtureRequest) -> str:
    if shutil.which(request.param) is None:
        pytest.skip(f"needs {request.param}")
    return str(request.param)


@pytest.fixture
def networked(backend: str) -> str:
    """The backend, where a kernel with a network allowlist can start under it."""
    if backend == "firejail" and _python_closed_to_firejail():
        pytest.skip("this Python is closed to firejail's uid 65534 (see the test below)")
    return backend


@pytest.fixture
def sandboxed(
    backend: str,
    spec_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """Start sandboxed kernels on demand (`sandboxed(**env)`) under each backend."""
    monkeypatch.setenv("JUPYTER_PATH", str(spec_path))
    monkeypatch.delenv(NETWORK_VAR, raising=False)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    started: list[Kernel] = []

    def start(**extra: str) -> Kernel:
        env = {**os.environ, "TOOLKERNEL_SANDBOX_BACKEND": backend, **extra}
        kernel = Kernel(workspace, env, tmp_path / f"kernel{len(started)}.log")
        started.append(kernel)
        return kernel

    yield start
    for kernel in started:
        kernel.shutdown(now=False)  # graceful, as Jupyter's: the launcher closes its proxy


def _processes_naming(text: str) -> list[int]:
    """The host's processes whose command line holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _no_process_names(text: str, timeout: float = 30.0) -> bool:
    """Whether no process names `text` (those ending may take a moment), within `timeout`."""
    deadline = time.monotonic() + timeout
    while _processes_naming(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_listed_name_is_reached_through_the_proxy_and_nothing_else(
    networked: str, sandboxed: Any, server_port: int
) -> None:
    kernel = sandboxed(**{NETWORK_VAR: "localhost"}).ready()
    by_name, by_address = (
        f"http://localhost:{server_port}/",
        f"http://127.0.0.1:{server_port}/",
    )
    got = kernel.value(_GET, f"[get({by_name!r}), get({by_address!r})]")
    assert got[0] == [200, _BODY.decode()]
    status, body = got[1]
    assert status == 403
    assert "'127.0.0.1'" in body
    assert "not in this process's network allowlist (localhost)" in body

    connect = (
        "import socket\n"
        "def connect(port):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=5).close()\n"
        "        return 'connected'\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
    )
    assert kernel.value(connect, f"connect({server_port})") != "connected"

    env = kernel.value("import os", "dict(os.environ)")
    assert env["HTTP_PROXY"] == env["https_proxy"] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == ""
    assert NETWORK_VAR not in env  # the allowlist is the launcher's, not the kernel's


def test_a_restart_gets_a_new_proxy_and_a_shutdown_removes_it(
    networked: str, sandboxed: Any, server_port: int
) -> None:
    kernel = sandboxed(**{NETWORK_VAR: f"localhost:{server_port}"}).ready()
    url = f"http://localhost:{server_port}/"
    first = kernel.value(_PROXY_SOCKET, "proxy_socket()")
    assert first is not None
    assert Path(first).exists()

    kernel.manager.restart_kernel(now=False)
    kernel.client.wait_for_ready(timeout=90)
    second = kernel.value(_PROXY_SOCKET, "proxy_socket()")
    assert second is not None
    assert second != first
    assert not Path(first).parent.exists()  # the old launcher closed its proxy
    assert _no_process_names(first)  # and its forwarder ended with its sandbox
    assert kernel.value(_GET, f"get({url!r})") == [200, _BODY.decode()]

    kernel.shutdown(now=False)
    assert not Path(second).parent.exists()
    assert _no_process_names(second)


def test_a_kernel_killed_outright_leaves_no_forwarder(networked: str, sandboxed: Any) -> None:
    kernel = sandboxed(**{NETWORK_VAR: "localhost"}).ready()
    socket_path = kernel.value(_PROXY_SOCKET, "proxy_socket()")
    assert socket_path is not None
    assert _processes_naming(socket_path)  # the forwarder, seen from the host
    kernel.shutdown(now=True)  # SIGKILL to the launcher's process group
    assert _no_process_names(socket_path)  # its pid namespace ended it
    # What a killed launcher cannot do: remove its proxy's (empty) folder.
    shutil.rmtree(Path(socket_path).parent, ignore_errors=True)


def test_without_the_variable_the_kernel_has_no_proxy_and_no_network(
    sandboxed: Any, server_port: int
) -> None:
    kernel = sandboxed().ready()
    code = (
        _GET
        + _PROXY_SOCKET
        + (
            "import os\n"
            "def fails(url):\n"
            "    try:\n"
            "        return repr(get(url))\n"
            "    except OSError as exc:\n"
            "        return type(exc).__name__\n"
        )
    )
    url = f"http://localhost:{server_port}/"
    got = kernel.value(code, f"[proxy_socket(), 'HTTP_PROXY' in os.environ, fails({url!r})]")
    assert got == [None, False, "URLError"]


def test_a_bad_pattern_stops_the_kernel_with_what_to_fix(sandboxed: Any) -> None:
    kernel = sandboxed(**{NETWORK_VAR: "localhost, https://example.org/x"})
    returncode = kernel.manager.provisioner.process.wait(timeout=90)
    assert returncode == 1
    log = kernel.log.read_text()
    assert "toolkernel-sandboxed: the kernel could not start" in log
    assert f"{NETWORK_VAR} holds a pattern the network allowlist refuses" in log
    assert "'https://example.org/x'" in log
    assert "give the host alone, without a scheme" in log


@pytest.mark.skipif(
    shutil.which("firejail") is None or not _python_closed_to_firejail(),
    reason="needs firejail, run as root with a Python under a folder closed to others",
)
def test_firejail_refuses_an_allowlist_when_its_uid_cannot_reach_python(
    spec_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(spec_path))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {**os.environ, "TOOLKERNEL_SANDBOX_BACKEND": "firejail", NETWORK_VAR: "localhost"}
    kernel = Kernel(workspace, env, tmp_path / "kernel.log")
    try:
        assert kernel.manager.provisioner.process.wait(timeout=90) == 1
    finally:
        kernel.shutdown()
    log = kernel.log.read_text()
    assert "must be reachable by uid 65534" in log
    assert "TOOLKERNEL_SANDBOX_BACKEND=bwrap" in log


def test_the_allowlist_comes_from_the_flags_else_the_variable_normalized() -> None:
    environ = {NETWORK_VAR: " API.github.com ,, *.Example.org,localhost:8080 "}
    assert network_allowlist(None, environ) == ("api.github.com", "*.example.org", "localhost:8080")
    assert network_allowlist(["10.0.0.7"], environ) == ("10.0.0.7",)
    assert network_allowlist(None, {}) == ()
    assert network_allowlist(None, {NETWORK_VAR: " , "}) == ()
    with pytest.raises(ValueError, match="--network holds a pattern"):
        network_allowlist(["*"], environ)


def test_the_policy_carries_the_allowlist(tmp_path: Path) -> None:
    policy = kernel_policy(
        workspace=tmp_path / "work",
        sockets_dir=tmp_path / "sockets",
        limits=KernelLimits(),
        environ={},
        python_paths=[Path("/opt/py")],
        package_paths=[Path("/src/kernel")],
        network_allow=("localhost",),
    )
    assert policy.network is False
    assert policy.network_allow == ("localhost",)
