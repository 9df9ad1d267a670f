"""A sandboxed kernel changes the real registry only through its tool host.

The kernel runs under bubblewrap with a throwaway home; `toolkernel host`, started by
hand outside the kernel's sandbox on a real home, serves its tools, applies its
`create_tool`, new versions, rollbacks and deletes to the real registry, and records
every call it serves in the real call history. A plain kernel on that home then calls
what the sandboxed one made.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from kernel.test_kernel_sandboxed import Sandboxed
from kernel_driver import KernelDriver
from sandboxed_support import provisioner_site, sandboxed_spec
from tk_support import python_server, write_config
from toolkernel.errors import ToolkernelError
from toolkernel.factory import ToolChanges, ToolDraft, ToolFactory
from toolkernel.registry import ToolRegistry
from toolkernel.sandboxed._launcher import python_paths
from toolkernel_sandbox.process import SANDBOX_UID

pytestmark = pytest.mark.timeout(300)

WAIT = 60
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")
WORDS = """import json, sys
request = json.loads(sys.stdin.readline())
text = request["params"]["arguments"]["text"]
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": len(text.split())}))
"""
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@dataclass
class OuterHost:
    """A `toolkernel host` on a real home, outside the kernel's sandbox."""

    proc: subprocess.Popen[str]
    socket: Path
    home: Path
    folder: Path

    def stop(self) -> None:
        """SIGTERM the host itself (it writes what it queued, then exits); bounded."""
        if self.proc.poll() is None:
            hosts = [self.proc, *psutil.Process(self.proc.pid).children(recursive=True)]
            for found in hosts:
                cmdline = found.cmdline() if isinstance(found, psutil.Process) else found.args
                if "host" in cmdline and "--socket" in cmdline:
                    os.kill(found.pid, signal.SIGTERM)
            self.proc.wait(WAIT)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "0:0", str(self.folder)], check=True, timeout=WAIT)


def start_outer_host(servers: dict[str, Any]) -> OuterHost:
    """Start `toolkernel host` as the user the sandboxed kernel runs as.

    A tool host serves only its own user, and a sandboxed kernel started by root runs as
    uid 65534: then the host runs as that uid too, with the interpreter's folders under
    root's home shown to it (bwrap, still outside the kernel's sandbox).
    """
    folder = Path(tempfile.mkdtemp(prefix="tks-"))  # short: a socket path has ~107 bytes
    home = folder / "home"
    home.mkdir()
    config = write_config(folder / "mcp.json", servers)
    socket = folder / "run" / "host.sock"
    argv = [TOOLKERNEL, "--home", str(home), "host", "--socket", str(socket)]
    argv += ["--config", str(config)]
    env = {**os.environ, "HOME": str(home)}
    if os.getuid() == 0:
        for path in (folder, home):
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
        config.chmod(0o644)
        own = Path.home()
        shown = [p for p in python_paths() if p.is_relative_to(own)]
        between = {q for p in shown for q in p.parents if q.is_relative_to(own) and q != own}
        binds = [
            arg
            for folder in sorted(between, key=lambda q: len(q.parts))
            for arg in ("--perms", "0755", "--dir", str(folder))
        ]
        binds += [arg for path in shown for arg in ("--ro-bind", str(path), str(path))]
        drop = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
        argv = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", str(own), *binds, "--", *drop, *argv]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("toolkernel host: serving on"):
            break
    else:
        pytest.fail(f"toolkernel host did not start (exit {proc.wait(WAIT)})")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return OuterHost(proc, socket, home, folder)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prefix holding the sandboxed kernelspec (its provisioner must be installed)."""
    provisioner_site(tmp_path_factory.mktemp("site"))
    return sandboxed_spec(tmp_path_factory.mktemp("prefix"))


@pytest.fixture
def outer_host() -> Iterator[OuterHost]:
    host = start_outer_host({"echo": python_server("echo_server.py")})
    yield host
    host.stop()
    shutil.rmtree(host.folder, ignore_errors=True)


@pytest.fixture
def kernel(
    spec_path: Path,
    outer_host: OuterHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Sandboxed]:
    if shutil.which("bwrap") is None:
        pytest.skip("needs bwrap")
    monkeypatch.setenv("JUPYTER_PATH", str(spec_path))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {
        **os.environ,
        "TOOLKERNEL_SANDBOX_BACKEND": "bwrap",
        "TOOLKERNEL_HOST_SOCKET": str(outer_host.socket),
    }
    started = Sandboxed(spec_path, workspace, env, tmp_path / "kernel.log")
    yield started
    started.shutdown()


def ok(kernel: Sandboxed, code: str) -> str:
    out, error = kernel.run(code, timeout=WAIT * 2)
    assert error is None, "\n".join(error["traceback"])
    return out


def error_of(kernel: Sandboxed, code: str) -> tuple[str, str]:
    """The class name and message of the error `code` raises in the kernel."""
    out = ok(
        kernel,
        f"try:\n    {code}\nexcept Exception as _e:\n    print(repr((type(_e).__name__, str(_e))))",
    )
    name, message = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own repr
    return name, message


def in_process_error(home: Path, draft: ToolDraft) -> tuple[str, str]:
    """What a plain kernel's `create_tool` raises for `draft`, for comparison."""
    registry = ToolRegistry(home)
    factory = ToolFactory(registry, reserved={"echo"}, cache_dir=home / "cache")
    try:
        with pytest.raises(ToolkernelError) as raised:
            ToolChanges(factory, registry).create(draft)
    finally:
        registry.close()
    return type(raised.value).__name__, str(raised.value)


def refuses_hostile_drafts(kernel: Sandboxed, plain: Path) -> None:
    """Hostile drafts get what the in-process path raises, and change nothing."""
    name, message = error_of(
        kernel, "create_tool('echo.shadow', kind='script', language='python', source='x')"
    )
    draft = ToolDraft.of("echo.shadow", kind="script", language="python", source="x")
    assert (name, message) == in_process_error(plain, draft)
    name, message = error_of(
        kernel,
        "create_tool('leak', kind='script', language='python', source=_WORDS, "
        "policy={'network': True})",
    )
    assert name == "RegistryError"
    assert "cannot create leak that reaches past the tool sandbox" in message


def the_real_home_has_it_all(home: Path, history: list[Any], tmp_path: Path) -> None:
    """The host's home holds the versions and the calls; a plain kernel on it calls them."""
    registry = ToolRegistry(home)
    try:
        assert [v.version for v in registry.tool_versions("local.words")] == [1, 2, 3]
        assert registry.tool_version("local.count_echo").deleted
        assert [c.to_json() for c in registry.call_history(20)] == history
    finally:
        registry.close()

    plain = KernelDriver(home=home, config=None, cwd=tmp_path)
    try:
        assert plain.value("await tools.local.words(text='one two')") == 2
        assert "count_echo" not in plain.value("dir(tools.local)")
    finally:
        plain.shutdown()


def test_a_sandboxed_kernels_tools_and_calls_land_in_the_real_registry(
    kernel: Sandboxed, outer_host: OuterHost, tmp_path: Path
) -> None:
    assert kernel.value("type(get_ipython().kernel.toolbox.host).__name__") == "RemoteToolHost"
    ok(kernel, "_s = await wait_for_servers()")
    assert kernel.value("[(s.name, s.state) for s in _s]") == [["echo", "connected"]]
    assert kernel.value(f"__import__('os').path.exists({str(outer_host.home)!r})") is False

    ok(kernel, f"_TEXT = {TEXT!r}\n_WORDS = {WORDS!r}")
    made = kernel.value(
        "create_tool('words', kind='script', language='python', source=_WORDS, "
        "input_schema=_TEXT).version"
    )
    assert made == 1
    steps = [
        {"id": "e", "tool": "echo.echo", "args": {"text": "${input.text}"}},
        {"id": "w", "tool": "local.words", "args": {"text": "${steps.e.result}"}},
    ]
    pipeline = f"create_tool('count_echo', kind='pipeline', steps={steps!r}, input_schema=_TEXT)"
    assert kernel.value(f"{pipeline}.name") == "local.count_echo"
    assert kernel.value("await tools.local.words(text='a b c')") == 3
    assert kernel.value("await tools.local.count_echo(text='x y')") == 2
    found = kernel.value("list(search_tools('count words', detail='name'))")
    assert "local.words" in found
    assert "count_echo" in kernel.value("get_tool_details('local.count_echo').signature")

    second = "create_tool('words', kind='script', language='python', input_schema=_TEXT, "
    second += "source=_WORDS.replace('len(text.split())', '-1'), note='v2').version"
    assert kernel.value(second) == 2
    assert kernel.value("await tools.local.words(text='a b')") == -1
    assert kernel.value("rollback_tool('words', 1).rollback_of") == 1
    assert kernel.value("await tools.local.words(text='a b')") == 2
    assert kernel.value("[v.version for v in tool_versions('words')]") == [1, 2, 3]
    assert "-1" in kernel.value("str(diff_tool('words', 1, 2))")
    skill = "async def count_twice(text: str) -> int:\n"
    skill += "    return 2 * await tools.local.words(text=text)\n"
    ok(kernel, skill + "save_skill(count_twice, note='a skill')")
    assert kernel.value("await __import__('skills').count_twice('a b c')") == 6
    assert kernel.value("delete_tool('count_echo').deleted") is True
    assert "count_echo" not in kernel.value("dir(tools.local)")

    refuses_hostile_drafts(kernel, tmp_path / "plain")

    history = kernel.value("call_history(10)")
    # What the kernel called, newest first (a pipeline's own steps run inside the host).
    assert [(c["tool"], c["outcome"]) for c in history] == [
        ("local.words", "ok"),  # the skill's
        ("local.words", "ok"),
        ("local.words", "ok"),
        ("local.count_echo", "ok"),
        ("local.words", "ok"),
    ]
    assert {c["session"] for c in history} == {f"host {outer_host.socket}"}
    assert [c["approval"] for c in history] == [None] * 5  # no policy asked about any
    # The kernel's own (throwaway) registry has neither the tools nor the calls.
    inner = (
        "(lambda r: (r.registry_tools(), r.call_history(10)))("
        "__import__('toolkernel.registry', fromlist=['ToolRegistry']).ToolRegistry("
        "__import__('pathlib').Path('/tmp/toolkernel')))"
    )
    assert kernel.value(f"[len(x) for x in {inner}]") == [0, 0]
    kernel.shutdown()
    outer_host.stop()

    the_real_home_has_it_all(outer_host.home, history, tmp_path)
