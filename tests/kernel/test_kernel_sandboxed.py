"""The `toolkernel-sandboxed` kernel: real kernels under bubblewrap, started by jupyter_client.

Agent code in it cannot reach the host's network, files, environment or processes, can
write its workspace only, and meets its limits with a clear outcome, never a hang: an
allocation past the memory limit or a fork past the process limit fails in the cell and
the kernel goes on; past the memory total or the CPU time the kernel is killed and the
launcher says its state was lost.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from sandboxed_support import provisioner_site, sandboxed_spec
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME
from toolkernel.sandboxed import PROVISIONER_NAME
from toolkernel_sandbox.process import cgroup_support

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A prefix holding the sandboxed kernelspec, its provisioner registered."""
    site = provisioner_site(tmp_path_factory.mktemp("site"))
    if site is not None:
        sys.path.append(str(site))
    yield sandboxed_spec(tmp_path_factory.mktemp("prefix"))
    if site is not None:
        sys.path.remove(str(site))


class Sandboxed:
    """A sandboxed kernel started from the kernelspec, with a blocking client."""

    def __init__(self, spec_path: Path, workspace: Path, env: dict[str, str], log: Path) -> None:
        self.manager = KernelManager(kernel_name=SANDBOXED_KERNEL_NAME)
        self.log = log
        with log.open("wb") as err:
            self.manager.start_kernel(env=env, cwd=str(workspace), stderr=err)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=90)

    def run(
        self, code: str, timeout: float = 60.0, *, stop_on_error: bool = True
    ) -> tuple[str, dict[str, Any] | None]:
        """Run `code`; return its stdout and its error content (None if it succeeded).

        With `stop_on_error=False`, a failure does not make ipykernel abort the next cell.
        """
        msg_id = self.client.execute(code, store_history=False, stop_on_error=stop_on_error)
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
                return out, error

    def value(self, expression: str) -> Any:
        out, error = self.run(f"import json as _j; print(_j.dumps({expression}))")
        assert error is None, "\n".join(error["traceback"])
        return json.loads(out.strip().splitlines()[-1])

    def shutdown(self) -> None:
        if self.manager.has_kernel:
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=True)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture(params=["bwrap", "firejail"])
def sandboxed(
    request: pytest.FixtureRequest,
    spec_path: Path,
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """Start sandboxed kernels on demand (`sandboxed(**env)`) under each backend."""
    if shutil.which(request.param) is None:
        pytest.skip(f"needs {request.param}")
    monkeypatch.setenv("JUPYTER_PATH", str(spec_path))
    started: list[Sandboxed] = []

    def start(**extra: str) -> Sandboxed:
        env = {**os.environ, "TOOLKERNEL_SANDBOX_BACKEND": request.param, **extra}
        kernel = Sandboxed(spec_path, workspace, env, tmp_path / f"kernel{len(started)}.log")
        started.append(kernel)
        return kernel

    yield start
    for kernel in started:
        kernel.shutdown()


def test_the_kernelspec_names_the_launcher_the_provisioner_and_message_interrupts(
    spec_path: Path,
) -> None:
    spec = json.loads((spec_path / "kernels" / SANDBOXED_KERNEL_NAME / "kernel.json").read_text())
    assert spec["argv"][1:] == ["-P", "-s", "-m", "toolkernel.sandboxed", "-f", "{connection_file}"]
    assert spec["display_name"] == "Toolkernel (sandboxed)"
    assert spec["interrupt_mode"] == "message"
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == PROVISIONER_NAME


def test_the_kernel_runs_code_over_ipc_sockets(sandboxed: Any) -> None:
    kernel = sandboxed()
    assert kernel.manager.transport == "ipc"
    assert kernel.value("1 + 1") == 2
    assert kernel.value("__import__('os').environ['TOOLKERNEL_SANDBOXED']") == "1"
    _, error = kernel.run("%tools")  # its own tool host, with no servers configured
    assert error is None, error
    sockets = Path(kernel.manager.ip).parent
    assert sorted(p.name for p in sockets.iterdir())[:2] == ["connection.json", "kernel-1"]
    kernel.shutdown()
    assert not sockets.exists()  # the provisioner removes its folder with the kernel


def test_code_cannot_connect_to_a_server_on_the_hosts_loopback(sandboxed: Any) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        kernel = sandboxed()
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('refused', type(exc).__name__)\n"
        )
        out, error = kernel.run(code)
        server.settimeout(0)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever reached the host's server
    assert error is None
    assert out.startswith("refused")


def test_code_cannot_read_etc_shadow_or_the_hosts_home(sandboxed: Any) -> None:
    home_file = Path.home() / ".toolkernel-sandbox-test-secret"
    home_file.write_text("secret")
    try:
        kernel = sandboxed()
        found = kernel.value(
            f"[__import__('os').path.exists(p) for p in ('/etc/shadow', {str(home_file)!r})]"
        )
    finally:
        home_file.unlink()
    assert found == [False, False]


def test_code_cannot_see_the_launching_environment(sandboxed: Any) -> None:
    kernel = sandboxed(TOOLKERNEL_TEST_SECRET="hunter2")  # noqa: S106
    env = kernel.value("dict(__import__('os').environ)")
    assert "TOOLKERNEL_TEST_SECRET" not in env
    assert "hunter2" not in json.dumps(env)
    shared = {name for name, value in env.items() if os.environ.get(name) == value}
    # PYTHONPATH is the launcher's own packages' folders, which this run also sets.
    allowed = {"LANG", "JPY_SESSION_NAME", "TOOLKERNEL_HOST_SOCKET", "PYTHONPATH", "TERM", "PAGER"}
    assert shared <= allowed
    assert env["HOME"] == "/tmp"
    assert env["TOOLKERNEL_HOME"] == "/tmp/toolkernel"


def test_code_cannot_see_host_processes(sandboxed: Any) -> None:
    kernel = sandboxed()
    pids = kernel.value("[int(p) for p in __import__('os').listdir('/proc') if p.isdigit()]")
    assert max(pids) < 10  # a pid namespace of its own: bwrap's init, the kernel, this cell


def test_code_writes_its_workspace_and_nothing_outside(sandboxed: Any, workspace: Path) -> None:
    outside = workspace.parent / "outside"
    outside.mkdir()
    kernel = sandboxed()
    code = (
        "import pathlib\n"
        "pathlib.Path('note.txt').write_text('kept')\n"
        "for target in ("
        + ", ".join(
            repr(p)
            for p in (
                str(outside / "x.txt"),
                "/usr/x.txt",
                str(Path(sys.prefix) / "x.txt"),
                "/x.txt",
            )
        )
        + "):\n"
        "    try:\n"
        "        pathlib.Path(target).write_text('escaped')\n"
        "        print('wrote', target)\n"
        "    except OSError as exc:\n"
        "        print('refused', type(exc).__name__)\n"
    )
    out, error = kernel.run(code)
    assert error is None, error
    assert (workspace / "note.txt").read_text() == "kept"
    assert "wrote" not in out
    assert out.count("refused") == 4
    assert not (outside / "x.txt").exists()


def test_a_memory_hog_ends_its_cell_with_memory_error_and_the_kernel_goes_on(
    sandboxed: Any,
) -> None:
    kernel = sandboxed(TOOLKERNEL_SANDBOX_MEMORY=str(1 * 2**30))
    hog = "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))\n"
    _, error = kernel.run(hog, stop_on_error=False)
    assert error is not None
    assert error["ename"] == "MemoryError"
    assert kernel.value("len(hog) > 0") is True  # what it held is still there
    kernel.run("del hog")
    assert kernel.value("6 * 7") == 42


def test_code_cannot_start_more_processes_than_its_limit(sandboxed: Any) -> None:
    kernel = sandboxed(TOOLKERNEL_SANDBOX_PROCESSES="64")
    code = (
        "import subprocess\n"
        "children = []\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        children.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as exc:\n"
        "    print('stopped', type(exc).__name__, len(children))\n"
        "for child in children:\n"
        "    child.kill()\n"
        "    child.wait()\n"
    )
    out, error = kernel.run(code)
    assert error is None, error
    assert out.startswith("stopped BlockingIOError")
    assert int(out.split()[-1]) < 64


def test_a_cell_allocating_3_gib_ends_with_memory_error_under_the_default_limit(
    sandboxed: Any,
) -> None:
    kernel = sandboxed()  # the default limit, 2 GiB
    kernel.run("kept = 'state'")
    _, error = kernel.run("big = bytearray(3 * 2**30)", stop_on_error=False)
    assert error is not None
    assert error["ename"] == "MemoryError"
    assert kernel.value("kept") == "state"  # the kernel went on, its state intact
    assert kernel.value("'big' in globals()") is False


MEMORY_TOTAL = """
import os, signal, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a threaded process
held = b"x" * (900 * 2**20)  # the kernel holds the most: the one the OOM killer picks
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        del held
        share = b"y" * (700 * 2**20)
        signal.pause()
    pids.append(pid)
print([os.waitpid(pid, 0) for pid in pids])
"""


def test_a_kernel_past_its_memory_total_is_killed_and_the_launcher_says_state_was_lost(
    sandboxed: Any,
) -> None:
    if cgroup_support().memory is None:
        pytest.skip(f"needs a memory cgroup: {cgroup_support().reason}")
    kernel = sandboxed()  # the default limit: 2 GiB each, and 2 GiB for all together
    kernel.client.execute(MEMORY_TOTAL)  # each process is under it, all three are not
    returncode = kernel.manager.provisioner.process.wait(timeout=120)
    assert returncode != 0
    log = kernel.log.read_text()
    assert f"used their {2**31} byte memory total and the kernel was killed" in log
    assert "its state is lost, and Jupyter restarts it" in log
    assert "TOOLKERNEL_SANDBOX_MEMORY" in log


FORK_BOMB = """
import os, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a threaded process
root = os.getpid()
children, stopped = [], False
for _ in range(12):  # every child forks on too: up to 2**12 processes
    try:
        pid = os.fork()
    except BlockingIOError:
        stopped = True
        break
    if pid == 0:
        children = []
    else:
        children.append(pid)
for pid in children:  # each waits for its own, and hears whether any was stopped
    stopped |= os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 1
if os.getpid() != root:
    os._exit(1 if stopped else 0)
print("stopped" if stopped else "ran", len(children))
"""


def test_a_fork_bomb_stops_at_the_process_limit_and_the_kernel_goes_on(sandboxed: Any) -> None:
    kernel = sandboxed(TOOLKERNEL_SANDBOX_PROCESSES="64")
    count = "len([p for p in __import__('os').listdir('/proc') if p.isdigit()])"
    before = kernel.value(count)
    out, error = kernel.run(FORK_BOMB, timeout=120)
    assert error is None, error
    assert out.split()[0] == "stopped"  # a fork failed: the limit held, not 2**12
    assert kernel.value(count) == before  # every process of the bomb is gone
    assert kernel.value("6 * 7") == 42


def test_an_interrupt_reaches_the_cell_inside_the_sandbox(sandboxed: Any) -> None:
    kernel = sandboxed()
    # stop_on_error=False: ipykernel would otherwise abort the next request, if it comes
    # while the interrupted one is being torn down.
    cell = "print('started', flush=True)\nimport time\ntime.sleep(120)"
    msg_id = kernel.client.execute(cell, stop_on_error=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = kernel.client.get_iopub_msg(timeout=max(0.0, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    kernel.manager.interrupt_kernel()
    reply = kernel.client.get_shell_msg(timeout=30)
    while reply["parent_header"]["msg_id"] != msg_id:  # kernel_info from wait_for_ready
        reply = kernel.client.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert kernel.value("'still here'") == "still here"


def test_a_kernel_past_its_cpu_time_dies_and_the_launcher_says_why(sandboxed: Any) -> None:
    kernel = sandboxed(TOOLKERNEL_SANDBOX_CPU_SECONDS="10")
    kernel.client.execute("while True:\n    pass\n")
    returncode = kernel.manager.provisioner.process.wait(timeout=120)
    assert returncode != 0
    log = kernel.log.read_text()
    assert "the kernel used its 10 s of CPU time and was stopped" in log
    assert "TOOLKERNEL_SANDBOX_CPU_SECONDS" in log
