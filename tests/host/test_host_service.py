"""`toolkernel host` as a real process on a Unix socket, and `RemoteToolHost` against it.

The host runs the real echo server (from its own mcp.json) and a script tool from the
registry; the tests hold only a socket path, as a sandboxed kernel would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from tk_support import npm_server, python_server, write_config
from toolkernel._spec import KnownRelay, ToolSpec
from toolkernel.errors import (
    ConfigError,
    ServerUnavailable,
    ToolDenied,
    ToolError,
    ToolInputError,
    ToolNotFound,
)
from toolkernel.factory import ToolFactory
from toolkernel.host import APPROVAL_META, RemoteToolHost, ToolHost
from toolkernel.registry import ToolRegistry

WAIT = 30
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")
T = TypeVar("T")

WORDS = """import json, sys
request = json.loads(sys.stdin.readline())
text = request["params"]["arguments"]["text"]
chunk = {"jsonrpc": "2.0", "method": "stream/chunk", "params": {"text": "counting"}}
print(json.dumps(chunk), flush=True)
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": len(text.split())}))
"""
TEXT_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def run(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` on a new event loop of this thread, bounded."""
    return asyncio.run(asyncio.wait_for(work, WAIT))


@dataclass
class HostProcess:
    proc: subprocess.Popen[str]
    socket: Path
    home: Path

    def remote(self, **kwargs: Any) -> RemoteToolHost:
        client = RemoteToolHost(
            {}, registry=ToolRegistry(self.home), socket_path=self.socket, **kwargs
        )
        client.start()
        return client


def start_host(
    tmp_path: Path,
    home: Path,
    socket: Path,
    servers: dict[str, Any] | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[str]:
    servers = servers or {"echo": python_server("echo_server.py")}
    config = write_config(tmp_path / "host-mcp.json", servers)
    argv = [TOOLKERNEL, "--home", str(home), "host", "--socket", str(socket), *extra]
    proc = subprocess.Popen(
        [*argv, "--config", str(config)], stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # READY-style line, or the process ends and so does the loop
        if line.startswith("toolkernel host: serving on"):
            break
    else:
        pytest.fail(f"toolkernel host did not start (exit {proc.wait(WAIT)})")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # never blocks it
    return proc


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostProcess]:
    home = tmp_path / "home"
    registry = ToolRegistry(home)
    factory = ToolFactory(registry, reserved={"echo"}, cache_dir=home / "cache")
    factory.create(
        "local.words",
        kind="script",
        language="python",
        source=WORDS,
        input_schema=TEXT_SCHEMA,
        description="Count words.",
    )
    registry.close()
    folder = Path(tempfile.mkdtemp(prefix="tkh-"))  # short: a socket path has ~107 bytes
    proc = start_host(tmp_path, home, folder / "run" / "host.sock")
    running = HostProcess(proc, folder / "run" / "host.sock", home)
    yield running
    running.proc.terminate()  # the one running now: a test may have restarted it
    running.proc.wait(WAIT)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def remote(host: HostProcess) -> Iterator[RemoteToolHost]:
    client = host.remote()
    statuses = run(client.statuses(settle=WAIT))
    assert [(s.name, s.state) for s in statuses] == [("echo", "connected")]
    yield client
    client.stop()


def test_the_remote_host_offers_every_public_method_of_the_in_process_one() -> None:
    public = [name for name in vars(ToolHost) if not name.startswith("_")]
    for name in public:
        ours = inspect.signature(getattr(RemoteToolHost, name)).parameters
        theirs = inspect.signature(getattr(ToolHost, name)).parameters
        assert list(theirs) == [p for p in ours if p in theirs], name
    constructor = inspect.signature(RemoteToolHost).parameters
    assert set(inspect.signature(ToolHost).parameters) <= set(constructor)


def test_the_socket_is_private_to_its_user(host: HostProcess) -> None:
    assert stat.S_IMODE(host.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(host.socket.parent.stat().st_mode) == 0o700


def test_files_the_host_makes_as_it_starts_keep_the_usual_modes(
    host: HostProcess, remote: RemoteToolHost
) -> None:
    # The socket is born 0600 under a process-wide umask; the host's own thread, making
    # the server's stderr log as it starts, must never run under that umask.
    logs = host.home / "logs"
    assert stat.S_IMODE(logs.stat().st_mode) & 0o700 == 0o700
    assert stat.S_IMODE((logs / "echo.stderr.log").stat().st_mode) & 0o600 == 0o600
    assert stat.S_IMODE(host.socket.stat().st_mode) == 0o600


def test_a_symlink_socket_path_is_refused(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tkh-"))
    try:
        folder.chmod(0o700)
        (folder / "host.sock").symlink_to(tmp_path / "elsewhere.sock")
        done = subprocess.run(
            [
                TOOLKERNEL,
                "--home",
                str(tmp_path / "home"),
                "host",
                "--socket",
                str(folder / "host.sock"),
            ],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert done.returncode == 1
        assert "is a symlink" in done.stderr
        assert not (tmp_path / "elsewhere.sock").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_socket_folder_open_to_others_is_refused(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tkh-"))
    try:
        folder.chmod(0o755)
        done = subprocess.run(
            [TOOLKERNEL, "--home", str(tmp_path / "home"), "host", "--socket", str(folder / "s")],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert done.returncode == 1
        assert "chmod 700" in done.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_call_through_the_host_returns_the_servers_result(remote: RemoteToolHost) -> None:
    result = run(remote.call("echo.echo", {"text": "123"}))
    assert result.content == [{"type": "text", "text": "123"}]
    assert run(remote.call("echo.add", {"a": 2, "b": 3})).structured == {"result": 5}


def test_the_catalog_holds_the_servers_and_the_registrys_tools(remote: RemoteToolHost) -> None:
    catalog = run(remote.catalog())
    assert "get-weather" in {spec.name for spec in catalog["echo"]}
    assert [spec.name for spec in catalog["local"]] == ["words"]
    assert remote.source_kind("echo") == "mcp"
    assert remote.source_kind("local.words") == "script"


def test_errors_keep_their_class_and_fields_across_the_socket(remote: RemoteToolHost) -> None:
    with pytest.raises(ToolInputError, match="'b' is a required") as bad:
        run(remote.call("echo.add", {"a": 1}))
    assert bad.value.tool == "echo.add"
    with pytest.raises(ToolNotFound, match="it offers: ") as missing:
        run(remote.call("echo.nope", {}))
    assert missing.value.tool == "echo.nope"


def test_progress_reaches_the_callers_callback(remote: RemoteToolHost) -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    run(remote.call("echo.progress", {"steps": 3}, on_progress=lambda *a: seen.append(a)))
    assert seen == [(1, 3, "step 1/3"), (2, 3, "step 2/3"), (3, 3, "step 3/3")]


def test_a_script_tool_runs_in_the_host_and_streams_its_output(remote: RemoteToolHost) -> None:
    chunks: list[str] = []
    result = run(remote.call("local.words", {"text": "a b c"}, on_output=chunks.append))
    assert result.structured == 3
    assert chunks == ["counting"]


def test_calls_in_flight_run_concurrently_on_one_connection(remote: RemoteToolHost) -> None:
    async def gather() -> list[Any]:
        meet = {"parties": 6, "timeout": 20}
        return await asyncio.gather(*(remote.call("echo.rendezvous", meet) for _ in range(6)))

    assert all(not r.is_error for r in run(gather()))


def test_calls_from_the_main_loop_and_from_other_threads_both_reach_the_host(
    remote: RemoteToolHost,
) -> None:
    """The main thread's loop calls over its own connection (its callbacks run there);
    a worker thread's loop goes through the client's thread, as before."""
    heard: dict[str, set[str]] = {"main": set(), "worker": set()}

    def call(side: str) -> list[dict[str, Any]]:
        hear = lambda *_: heard[side].add(threading.current_thread().name)  # noqa: E731
        run(remote.call("echo.progress", {"steps": 2}, on_progress=hear))
        return run(remote.call("echo.echo", {"text": side})).content

    on_main = call("main")
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="worker") as pool:
        on_worker = pool.submit(call, "worker").result(WAIT)
    assert [on_main, on_worker] == [[{"type": "text", "text": t}] for t in ("main", "worker")]
    assert heard == {"main": {threading.main_thread().name}, "worker": {"toolkernel-remote"}}


def test_cancelling_a_call_cancels_it_on_the_server(remote: RemoteToolHost) -> None:
    async def start_then_cancel() -> None:
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        task = asyncio.create_task(
            remote.call(
                "echo.slow",
                {"seconds": 30},
                on_progress=lambda *_: loop.call_soon_threadsafe(started.set),
            )
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(start_then_cancel())
    seen = run(remote.call("echo.cancellations", {"wait_for": 1, "timeout": 20}))
    assert "cancelled slow 30" in str(seen.structured)
    assert run(remote.call("echo.echo", {"text": "still here"})).content[0]["text"] == "still here"


def test_an_elicitation_is_answered_by_the_callers_relay(remote: RemoteToolHost) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    async def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
        asked.append((method, params))
        return {"action": "accept", "content": {"answer": "blue"}}

    relay = KnownRelay(answer, frozenset({"elicitation"}))
    result = run(remote.call("echo.ask_user", {"question": "colour?"}, relay=relay))
    assert result.content[0]["text"] == "accept: blue"
    assert [(method, params["message"]) for method, params in asked] == [
        ("elicitation/create", "colour?")
    ]


def test_without_a_relay_the_servers_request_is_refused(remote: RemoteToolHost) -> None:
    with pytest.raises(ToolError, match="sampling/createMessage") as refused:
        run(remote.call("echo.ask_model", {"question": "hi"}))
    assert refused.value.tool == "echo.ask_model"


def test_a_subscriber_hears_the_catalog_then_a_pushed_change(remote: RemoteToolHost) -> None:
    heard: list[str] = []
    fresh = threading.Event()

    def listener(source: str, specs: list[ToolSpec]) -> None:
        heard.append(source)
        if any(spec.name == "fresh" for spec in specs):
            fresh.set()

    unsubscribe = remote.subscribe(listener)
    assert sorted(heard) == ["echo", "local"]  # the catalog now, before returning
    run(remote.call("echo.add_tool", {"name": "fresh"}))
    assert fresh.wait(WAIT)
    unsubscribe()
    assert run(remote.call("echo.fresh", {"text": "hi"})).content[0]["text"].endswith("hi")


def test_a_killed_host_fails_calls_clearly_and_never_hangs(
    host: HostProcess, remote: RemoteToolHost
) -> None:
    async def call_then_kill() -> None:
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        task = asyncio.create_task(
            remote.call(
                "echo.slow",
                {"seconds": 30},
                on_progress=lambda *_: loop.call_soon_threadsafe(started.set),
            )
        )
        await started.wait()
        host.proc.kill()
        with pytest.raises(ServerUnavailable, match=r"went away during the call to echo\.slow"):
            await task

    run(call_then_kill())
    host.proc.wait(WAIT)
    with pytest.raises(ServerUnavailable, match=r"tool host at .* is gone"):
        run(remote.call("echo.echo", {"text": "x"}))
    [status] = run(remote.statuses())
    assert (status.name, status.state) == ("echo", "failed")
    assert "restart the kernel" in (status.detail or "")


def test_server_logs_reach_the_clients_log_sink(host: HostProcess) -> None:
    logged: list[tuple[str, int, str]] = []
    last = threading.Event()

    def on_log(source: str, level: int, text: str) -> None:
        logged.append((source, level, text))
        if text == "step 2/2":
            last.set()

    client = host.remote(on_log=on_log)
    try:
        run(client.call("echo.progress", {"steps": 2}))
        assert last.wait(WAIT)
        assert ("echo", logging.INFO, "step 1/2") in logged
    finally:
        client.stop()


def test_resources_are_listed_and_read_through_the_host(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tkh-"))
    servers = {"everything": npm_server("mcp-server-everything", "stdio")}
    proc = start_host(tmp_path, tmp_path / "home", folder / "host.sock", servers)
    client = HostProcess(proc, folder / "host.sock", tmp_path / "home").remote()
    try:
        listed = run(client.list_resources("everything"))
        assert listed
        assert {r["server"] for r in listed} == {"everything"}
        read = run(client.read_resource(listed[0]["uri"], server="everything"))
        assert read["contents"][0]["uri"] == listed[0]["uri"]
        with pytest.raises(ToolNotFound, match="servers: everything"):
            run(client.read_resource("x://y", server="nope"))
    finally:
        client.stop()
        proc.terminate()
        proc.wait(WAIT)
        shutil.rmtree(folder, ignore_errors=True)


def test_sigterm_stops_the_host_and_removes_its_socket(host: HostProcess) -> None:
    host.proc.terminate()
    assert host.proc.wait(WAIT) == 0
    assert not host.socket.exists()


def test_a_second_host_on_a_live_socket_is_refused(host: HostProcess) -> None:
    argv = [TOOLKERNEL, "--home", str(host.home), "host", "--socket", str(host.socket)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, check=False)
    assert done.returncode == 1
    assert "another tool host is serving" in done.stderr
    assert host.proc.poll() is None


def test_a_host_restarted_on_the_same_socket_is_reconnected_to(
    host: HostProcess, remote: RemoteToolHost, tmp_path: Path
) -> None:
    host.proc.kill()
    host.proc.wait(WAIT)  # its socket file stays behind, stale
    host.proc = start_host(tmp_path, host.home, host.socket)
    result = run(remote.call("echo.echo", {"text": "again"}))
    assert result.content == [{"type": "text", "text": "again"}]


def test_a_client_with_no_socket_says_which_variable_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOOLKERNEL_HOST_SOCKET", raising=False)
    with pytest.raises(ConfigError, match=r"set \$TOOLKERNEL_HOST_SOCKET"):
        RemoteToolHost({}, registry=ToolRegistry(tmp_path / "home"))


def test_a_host_that_never_came_fails_within_the_connect_timeout(tmp_path: Path) -> None:
    client = RemoteToolHost(
        {},
        registry=ToolRegistry(tmp_path / "home"),
        socket_path=tmp_path / "none.sock",
        connect_timeout=0.5,
    )
    client.start()
    try:
        with pytest.raises(ServerUnavailable, match="cannot reach the tool host at"):
            run(client.call("echo.echo", {"text": "x"}))
    finally:
        client.stop()


def test_a_kernel_with_the_remote_host_calls_tools_through_the_host_process(
    host: HostProcess, kernel_factory: Any
) -> None:
    kernel = kernel_factory(
        None,  # the kernel has no mcp.json: the servers are the host's alone
        extra_env={"TOOLKERNEL_HOST_SOCKET": str(host.socket)},
        extra_arguments=["--Toolbox.host_class=toolkernel.host.RemoteToolHost"],
    )
    kernel.execute("_statuses = await wait_for_servers()")
    assert kernel.value("[(s.name, s.state) for s in _statuses]") == [["echo", "connected"]]
    assert kernel.value("type(get_ipython().kernel.toolbox.host).__name__") == "RemoteToolHost"
    out = kernel.execute("print(await tools.echo.echo(text='via the host'))")
    assert out.stdout.strip() == "via the host"
    assert kernel.value("await tools.local.words(text='one two')") == 2
    servers_of = psutil.Process(host.proc.pid).children(recursive=True)
    assert any("echo_server.py" in " ".join(p.cmdline()) for p in servers_of)
    kernel_pid = kernel.value("__import__('os').getpid()")
    kernel_children = psutil.Process(kernel_pid).children(recursive=True)
    assert not any("echo_server.py" in " ".join(p.cmdline()) for p in kernel_children)


def test_interrupting_a_kernel_cell_cancels_the_call_in_the_host(
    host: HostProcess, kernel_factory: Any
) -> None:
    kernel = kernel_factory(
        None,
        extra_env={"TOOLKERNEL_HOST_SOCKET": str(host.socket)},
        extra_arguments=["--Toolbox.host_class=toolkernel.host.RemoteToolHost"],
    )
    kernel.execute("await wait_for_servers()")
    msg_id = kernel.client.execute("await tools.echo.slow(seconds=60)", stop_on_error=False)
    # The server started the call once its first progress report shows in the cell.
    while True:
        msg = kernel.client.get_iopub_msg(timeout=WAIT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "display_data":
            break
    kernel.manager.interrupt_kernel()
    assert kernel.reply_to(msg_id, timeout=WAIT)["content"]["status"] == "error"
    cancelled = kernel.value("await tools.echo.cancellations(wait_for=1, timeout=20)")
    assert any("slow 60" in line for line in cancelled)


def test_the_hosts_policy_decides_the_kernels_calls(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"allow": ["echo.add"]}))
    folder = Path(tempfile.mkdtemp(prefix="tkh-"))
    proc = start_host(
        tmp_path, tmp_path / "home", folder / "h.sock", extra=("--policy", str(policy))
    )
    client = HostProcess(proc, folder / "h.sock", tmp_path / "home").remote()
    try:
        assert run(client.call("echo.add", {"a": 2, "b": 3})).structured == {"result": 5}
        with pytest.raises(ToolDenied) as denied:
            run(client.call("echo.echo", {"text": "hi"}))
        assert denied.value.by == "policy"
    finally:
        client.stop()
        proc.terminate()
        proc.wait(WAIT)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("party", ["person", "client"])
def test_a_denied_approval_names_who_the_kernels_relay_reaches(tmp_path: Path, party: str) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"approve": ["echo.add"]}))
    folder = Path(tempfile.mkdtemp(prefix="tkh-"))
    proc = start_host(
        tmp_path, tmp_path / "home", folder / "h.sock", extra=("--policy", str(policy))
    )
    client = HostProcess(proc, folder / "h.sock", tmp_path / "home").remote()
    asked: list[dict[str, Any]] = []

    async def deny(method: str, params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {"answer": "deny"}}

    try:
        relay = KnownRelay(deny, frozenset({"elicitation"}), party)
        with pytest.raises(ToolDenied) as denied:
            run(client.call("echo.add", {"a": 2, "b": 3}, relay=relay))
        assert denied.value.by == party
        assert f"the {party} denied it" in str(denied.value)
        # The approval marker crossed the socket: a notebook routes it to the dialog.
        assert asked[0]["_meta"][APPROVAL_META]["tool"] == "echo.add"
    finally:
        client.stop()
        proc.terminate()
        proc.wait(WAIT)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_policy_file_with_an_unknown_option_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"alow": ["echo.*"]}))
    argv = [TOOLKERNEL, "--home", str(tmp_path / "home"), "host", "--socket", "x.sock"]
    done = subprocess.run(
        [*argv, "--policy", str(policy)], check=False, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode != 0
    assert "unknown: ['alow']" in done.stderr
