"""The sandboxed kernel starts its own tool host, outside the sandbox, and lives with it.

One sandboxed kernel (bubblewrap, started by jupyter_client from the kernelspec) with a
test home: the host reads that home's mcp.json (a stdio server holding a secret, an
HTTP server) and registry (a script tool, a WASM tool); the kernel reaches them only
through the host's socket. A second kernel's host has a policy that asks before a
destructive tool: the person at the notebook answers, and a denial names them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.manager import KernelManager

from kernel_driver import KernelDriver
from sandboxed_support import provisioner_site, sandboxed_spec
from tk_support import http_server, python_server, write_config
from toolkernel.factory import ToolFactory
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME
from toolkernel.registry import ToolRegistry

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap"),
]

WAIT = 60
SECRET = "hunter2-only-the-host-knows"  # noqa: S105
WORDS = """import json, sys
request = json.loads(sys.stdin.readline())
text = request["params"]["arguments"]["text"]
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": len(text.split())}))
"""
ECHO_WAT = (Path(__file__).parents[1] / "wasm_sources" / "echo.wat").read_text("utf-8")
TEXT_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


class SandboxedDriver(KernelDriver):
    """`KernelDriver`'s cells, on a `toolkernel-sandboxed` kernel (its provisioner's ipc)."""

    def __init__(self, *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.sockets_dir = Path(tempfile.mkdtemp(prefix="tk-unused-"))
        self.manager = KernelManager(kernel_name=SANDBOXED_KERNEL_NAME)
        self.log = log
        self._err = log.open("ab")  # kept open: a restart launches with it again
        self.manager.start_kernel(env=env, cwd=str(cwd), stderr=self._err)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=WAIT)
        self.prompts: list[str] = []
        self._answers: list[str] | None = None

    def shutdown(self) -> None:
        super().shutdown()
        self._err.close()

    def launcher(self) -> psutil.Process:
        return psutil.Process(self.manager.provisioner.process.pid)  # type: ignore[union-attr]

    def socket(self) -> Path:
        """The socket its host serves on (from the host's command line)."""
        argv = self.host().cmdline()
        return Path(argv[argv.index("--socket") + 1])

    def host(self) -> psutil.Process:
        """The one `toolkernel host` this kernel's launcher started."""
        hosts = [p for p in self.launcher().children() if "host" in p.cmdline()]
        assert len(hosts) == 1, hosts
        return hosts[0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The kernelspec, a home (mcp.json with a stdio and an HTTP server, registry tools)."""
    site = provisioner_site(tmp_path_factory.mktemp("site"))
    assert site is None
    base = tmp_path_factory.mktemp("sbx-host")
    spec = sandboxed_spec(base / "prefix")
    home = base / "home"
    with ToolRegistry(home) as registry:
        factory = ToolFactory(registry, reserved={"echo", "web"}, cache_dir=home / "cache")
        factory.create(
            "local.words",
            kind="script",
            language="python",
            source=WORDS,
            input_schema=TEXT_SCHEMA,
            description="Count words.",
        )
        factory.create("local.mirror", language="wat", source=ECHO_WAT)
    with http_server("echo_server.py", "--transport", "http") as url:
        echo = python_server("echo_server.py")
        echo["env"] = {"ECHO_TOKEN": "${TK_TEST_HOST_SECRET}"}
        config = write_config(home / "mcp.json", {"echo": echo, "web": {"url": url}})
        env = {
            **os.environ,
            "JUPYTER_PATH": str(spec),
            "TOOLKERNEL_HOME": str(home),
            "TOOLKERNEL_MCP_CONFIG": str(config),
            "TK_TEST_HOST_SECRET": SECRET,
            "ECHO_CANCEL_LOG": str(base / "cancelled.log"),
            "TOOLKERNEL_SANDBOX_BACKEND": "bwrap",
        }
        yield {"env": env, "base": base, "home": home}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def kernel(setup: dict[str, Any]) -> Iterator[SandboxedDriver]:
    workspace = setup["base"] / "workspace"
    workspace.mkdir()
    driver = SandboxedDriver(env=setup["env"], cwd=workspace, log=setup["base"] / "kernel.log")
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def test_the_kernel_uses_its_own_host_which_runs_outside_the_sandbox(
    kernel: SandboxedDriver,
) -> None:
    assert kernel.value("type(get_ipython().kernel.toolbox.host).__name__") == "RemoteToolHost"
    host = kernel.host()
    socket_path = kernel.value("__import__('os').environ['TOOLKERNEL_HOST_SOCKET']")
    assert socket_path == str(kernel.socket())
    assert host.uids().real == os.getuid()  # the launching user, not the kernel's uid
    servers = " ".join(" ".join(p.cmdline()) for p in host.children(recursive=True))
    assert "echo_server.py" in servers  # the stdio server is the host's child
    info = Path(socket_path).parent.stat()
    assert oct(info.st_mode & 0o777) == oct(0o750 if os.getuid() == 0 else 0o700)


def test_percent_tools_and_discovery_list_the_hosts_servers(kernel: SandboxedDriver) -> None:
    out = kernel.execute("%tools")
    assert "echo" in out.stdout
    assert "web" in out.stdout
    assert "connected" in out.stdout
    assert "No mcp.json" not in out.stdout
    assert kernel.value("get_ipython().kernel.toolbox.server_names()") == ["echo", "web"]
    names = kernel.value("list_tool_names()")
    assert {"echo.echo", "web.echo", "local.words", "local.mirror"} <= set(names)


def test_a_stdio_an_http_a_script_and_a_wasm_tool_answer_through_the_host(
    kernel: SandboxedDriver,
) -> None:
    assert kernel.value("await tools.echo.echo(text='stdio')") == "stdio"
    assert kernel.value("await tools.web.echo(text='http')") == "http"
    assert kernel.value("await tools.local.words(text='one two three')") == 3
    assert kernel.value("await tools.local.mirror({'word': 'wasm'})") == {"word": "wasm"}


def test_progress_of_a_host_call_shows_in_the_cell(kernel: SandboxedDriver) -> None:
    out = kernel.execute("r = await tools.echo.progress(steps=3)")
    assert out.displays or out.updates  # the progress bar, fed by the host's notifications
    assert kernel.value("r['steps']") == 3


def test_an_elicitation_asked_by_a_server_becomes_an_input_prompt(
    kernel: SandboxedDriver,
) -> None:
    out = kernel.execute(
        "print(await tools.echo.ask_user(question='Favourite colour?'))", answers=["green"]
    )
    assert kernel.prompts == ["Your answer: "]
    assert out.stdout.splitlines() == ["Favourite colour?", "accept: green"]


def test_interrupting_a_cell_cancels_the_call_on_the_server(kernel: SandboxedDriver) -> None:
    msg_id = kernel.client.execute("await tools.echo.slow(seconds=60)", stop_on_error=False)
    while True:  # the server started the call once its first progress report shows
        msg = kernel.client.get_iopub_msg(timeout=WAIT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "display_data":
            break
    kernel.manager.interrupt_kernel()
    assert kernel.reply_to(msg_id, timeout=WAIT)["content"]["status"] == "error"
    cancelled = kernel.value("await tools.echo.cancellations(wait_for=1, timeout=20)")
    assert any("slow 60" in line for line in cancelled)


def test_the_hosts_secrets_and_files_stay_out_of_the_kernel(
    kernel: SandboxedDriver, setup: dict[str, Any]
) -> None:
    env = kernel.value("dict(__import__('os').environ)")
    assert SECRET not in json.dumps(env)
    assert "TOOLKERNEL_MCP_CONFIG" not in env
    config = setup["env"]["TOOLKERNEL_MCP_CONFIG"]
    assert kernel.value(f"__import__('os').path.exists({config!r})") is False
    pids = kernel.value("[int(p) for p in __import__('os').listdir('/proc') if p.isdigit()]")
    assert max(pids) < 10  # its own pid namespace: the host's processes are not there
    assert SECRET in json.dumps(kernel.host().environ())  # the host does have it


def test_the_host_socket_admits_the_kernels_uid_and_refuses_another(
    kernel: SandboxedDriver,
) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root: the kernel runs as uid 65534 only under root")
    path = str(kernel.socket())
    hello = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocol": 1}}
    )
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.settimeout(20)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as exc:\n"
        "    print('refused', type(exc).__name__); raise SystemExit\n"
        "try:\n"
        "    s.sendall(sys.argv[2].encode() + b'\\n')\n"
        "    print('answered' if s.recv(65536) else 'closed')\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    print('closed')\n"
    )

    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("needs a system python3 that any uid may run")

    def connect_as(uid: int, group: int) -> str:
        done = subprocess.run(
            [system_python, "-I", "-c", probe, path, hello],
            user=uid,
            group=group,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert connect_as(65534, 65534) == "answered"  # the kernel's uid
    assert connect_as(4242, 4242).startswith("refused PermissionError")  # not into the folder
    assert connect_as(4242, 65534).startswith("refused PermissionError")  # the socket is 0600
    # Even past the file modes, the host itself refuses a peer of another uid.
    Path(path).chmod(0o666)  # for this one check, then back
    try:
        assert connect_as(4242, 65534) == "closed"
    finally:
        Path(path).chmod(0o600)


def test_a_restart_gives_a_new_host_and_shutdown_leaves_no_process_or_folder(
    setup: dict[str, Any], workspace: Path, tmp_path: Path
) -> None:
    driver = SandboxedDriver(env=setup["env"], cwd=workspace, log=tmp_path / "kernel.log")
    try:
        first, first_folder = driver.host(), driver.socket().parent
        driver.manager.restart_kernel(now=True)
        driver.client.wait_for_ready(timeout=WAIT)
        assert driver.value("await tools.echo.echo(text='again')") == "again"
        second = driver.host()
        assert second.pid != first.pid
        first.wait(WAIT)  # the old host ended with its launcher
        assert not first_folder.exists()
        servers = second.children(recursive=True)
        folder = driver.socket().parent
    finally:
        driver.shutdown()
    _, alive = psutil.wait_procs([second, *servers], timeout=WAIT)
    assert alive == []
    assert not folder.exists()


def test_a_killed_launcher_takes_its_host_and_the_hosts_folder_with_it(
    setup: dict[str, Any], workspace: Path, tmp_path: Path
) -> None:
    driver = SandboxedDriver(env=setup["env"], cwd=workspace, log=tmp_path / "kernel.log")
    try:
        driver.execute("await wait_for_servers(30)")
        host = driver.host()
        servers = host.children(recursive=True)
        folder = driver.socket().parent
        driver.launcher().send_signal(signal.SIGKILL)
        _, alive = psutil.wait_procs([host, *servers], timeout=WAIT)
        assert alive == []
        assert not folder.exists()
    finally:
        driver.shutdown()


def test_a_host_that_cannot_start_leaves_the_kernel_running_and_says_why(
    setup: dict[str, Any], workspace: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"alow": ["echo.*"]}))
    env = {**setup["env"], "TOOLKERNEL_SANDBOX_POLICY": str(policy)}
    driver = SandboxedDriver(env=env, cwd=workspace, log=tmp_path / "kernel.log")
    try:
        assert driver.value("6 * 7") == 42
        out = driver.execute("%tools")
        assert "tool host" in out.stdout
        assert "failed" in out.stdout
        assert "alow" in out.stdout  # the host's own error, from its log
        assert str(setup["home"] / "logs") in out.stdout  # and where that log is
        call = driver.execute("await tools.echo.echo(text='x')", allow_error=True)
        assert call.error is not None
        assert "the tool host failed" in call.error["evalue"]
        assert "alow" in call.error["evalue"]
    finally:
        driver.shutdown()


def test_a_host_named_by_the_launching_environment_is_used_and_none_is_started(
    setup: dict[str, Any], workspace: Path, tmp_path: Path
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tk-own-"))
    folder.chmod(0o700)
    socket_path = folder / "host.sock"
    argv = [str(Path(sys.executable).parent / "toolkernel"), "host", "--socket", str(socket_path)]
    if os.getuid() == 0:
        argv += ["--peer-uid", "65534"]
    host = subprocess.Popen(argv, env=setup["env"], stderr=subprocess.PIPE, text=True)
    try:
        assert host.stderr is not None
        assert "serving on" in host.stderr.readline()  # the first line, once it listens
        threading.Thread(target=host.stderr.read, daemon=True).start()  # never blocks it
        env = {**setup["env"], "TOOLKERNEL_HOST_SOCKET": str(socket_path)}
        driver = SandboxedDriver(env=env, cwd=workspace, log=tmp_path / "kernel.log")
        try:
            assert driver.value("await tools.echo.echo(text='mine')") == "mine"
            started = [p for p in driver.launcher().children() if "host" in p.cmdline()]
            assert started == []  # the launcher started no host of its own
        finally:
            driver.shutdown()
        assert host.poll() is None  # and it leaves yours running
    finally:
        host.terminate()
        host.wait(WAIT)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def guarded(setup: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sandboxed kernel whose host asks before a destructive tool runs (a policy file)."""
    base = tmp_path_factory.mktemp("sbx-guarded")
    policy = base / "policy.json"
    policy.write_text(json.dumps({"approve_destructive": True}))
    config = write_config(base / "mcp.json", {"guarded": python_server("guarded_server.py")})
    env = {
        **setup["env"],
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
        "TOOLKERNEL_SANDBOX_POLICY": str(policy),
    }
    workspace = base / "workspace"
    workspace.mkdir()
    driver = SandboxedDriver(env=env, cwd=workspace, log=base / "kernel.log")
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def test_the_person_at_the_notebook_allows_one_call_and_denies_the_next_by_name(
    guarded: SandboxedDriver,
) -> None:
    allowed = guarded.execute("await tools.guarded.delete_note(name='a')", answers=["allow"])
    assert allowed.text == repr("deleted a")
    assert "Allow the tool guarded.delete_note to run?" in allowed.stdout
    denied = guarded.execute(
        "await tools.guarded.delete_note(name='b')", answers=["deny"], allow_error=True
    )
    assert denied.error is not None
    assert denied.error["ename"] == "ToolDenied"
    assert "guarded.delete_note" in denied.error["evalue"]
    assert "the person denied it" in denied.error["evalue"]  # not "the client"
    assert guarded.value("await tools.guarded.deleted()") == ["a"]
    history = guarded.value("[c['approval'] for c in call_history(3)]")
    assert history == [None, "denied:person", "allowed:person"]  # the host's audit rows


def test_discovery_finds_an_mcp_servers_tools_right_after_start(
    setup: dict[str, Any], workspace: Path, tmp_path: Path
) -> None:
    # A fresh home has no cached catalog: only the host's, pushed after start, can answer.
    config = write_config(tmp_path / "mcp.json", {"echo": python_server("echo_server.py")})
    env = {
        **setup["env"],
        "TOOLKERNEL_HOME": str(tmp_path / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
    }
    driver = SandboxedDriver(env=env, cwd=workspace, log=tmp_path / "kernel.log")
    try:
        assert "echo.echo" in driver.value("list(list_tool_names())")
        assert "echo.echo" in driver.value("list(search_tools('echo', detail='name'))")
        details = driver.value("vars(get_tool_details('echo.echo'))")
        assert details["source"] == "echo"
        assert details["signature"].startswith("echo(")
        assert "text" in details["input_schema"]["properties"]
    finally:
        driver.shutdown()
