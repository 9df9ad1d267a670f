"""`run` under real bubblewrap and firejail: interpreters, stdio, environment, backends."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from process_support import REAL_BACKENDS

from toolkernel_sandbox import SandboxError
from toolkernel_sandbox.process import (
    ProcessPolicy,
    UnsandboxedWarning,
    run,
    share_writable,
)

INTERPRETERS = {
    "python3": ["python3", "-c", "import sys; sys.stdout.write(sys.stdin.read())"],
    "node": ["node", "-e", "process.stdin.pipe(process.stdout)"],
    "ruby": ["ruby", "-e", "print STDIN.read"],
    "bash": ["bash", "-c", 'while IFS= read -r line; do echo "$line"; done'],
}
ENV_DUMP = ["python3", "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


@pytest.mark.parametrize("backend", REAL_BACKENDS)
@pytest.mark.parametrize("interpreter", sorted(INTERPRETERS))
def test_each_interpreter_echoes_its_stdin(backend: str, interpreter: str) -> None:
    if shutil.which(interpreter) is None:
        pytest.skip(f"{interpreter} is not installed here")
    done = run(INTERPRETERS[interpreter], stdin=b"hello\nsandbox\n", backend=backend)
    assert (done.returncode, done.stdout, done.backend) == (0, b"hello\nsandbox\n", backend)


def test_bubblewrap_works_on_every_one_of_many_calls() -> None:
    # The system this replaces had a bubblewrap command that failed on every call.
    outputs = [run(["bash", "-c", f"echo {i}"], backend="bwrap").stdout for i in range(25)]
    assert outputs == [f"{i}\n".encode() for i in range(25)]


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_the_code_runs_as_nobody_when_the_host_is_root(backend: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("only a root host drops to uid 65534")
    done = run(["python3", "-c", "import os; print(os.getuid(), os.getgid())"], backend=backend)
    assert done.stdout == b"65534 65534\n"


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_host_environment_does_not_reach_the_child(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKERNEL_TEST_LEAK", "secret")
    policy = ProcessPolicy(env={"DECLARED": "yes"})
    env = json.loads(run(ENV_DUMP, policy=policy, backend=backend).stdout)
    assert "TOOLKERNEL_TEST_LEAK" not in env
    assert env.pop("PWD") == "/tmp"  # set by the backend on entering the working directory
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "DECLARED": "yes",
    }


def test_a_virtualenv_runs_its_own_python_with_its_base_prefix_listed() -> None:
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix):
        pytest.skip("the tests are not running in a virtualenv")
    code = "import sys, wasmtime; print(sys.prefix)"
    command = [str(venv / "bin" / "python"), "-c", code]
    # The base installation is shown only when the caller lists it: the venv's own
    # pyvenv.cfg, a file inside a shown folder, never adds a mount.
    policy = ProcessPolicy(read_only=(venv, Path(sys.base_prefix)))
    done = run(command, policy=policy, backend="bwrap")
    assert (done.returncode, done.stdout.decode().strip()) == (0, str(venv))
    if Path(sys.base_prefix).parts[1] != "usr":  # /usr is shown to every sandbox
        alone = run(command, policy=ProcessPolicy(read_only=(venv,)), backend="bwrap")
        assert alone.returncode != 0


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_the_tool_dir_is_the_readable_working_directory(backend: str, tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text("print('from the tool')\n")
    tmp_path.chmod(0o755)
    policy = ProcessPolicy(tool_dir=tmp_path)
    done = run(["python3", "tool.py"], policy=policy, backend=backend)
    assert (done.returncode, done.stdout) == (0, b"from the tool\n")


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_writable_path_keeps_what_the_child_writes(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    share_writable(out)
    policy = ProcessPolicy(writable=(out,))
    done = run(["bash", "-c", f"echo kept > {out}/result"], policy=policy, backend=backend)
    assert done.returncode == 0, done.stderr
    assert (out / "result").read_text() == "kept\n"


def test_lines_stream_to_the_callbacks_in_order() -> None:
    out: list[str] = []
    err: list[str] = []
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf tail"
    done = run(["bash", "-c", script], on_stdout_line=out.append, on_stderr_line=err.append)
    assert out == ["out1", "out2", "out3", "tail"]
    assert err == ["err1", "err2", "err3"]
    assert done.stdout == b"out1\nout2\nout3\ntail"


def test_an_error_in_a_line_callback_stops_the_run_and_is_raised() -> None:
    def refuse(line: str) -> None:
        msg = f"callback refused {line!r}"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="callback refused 'first'"):
        run(["bash", "-c", "echo first; exec sleep 30"], on_stdout_line=refuse)


def test_a_nonzero_exit_is_returned_not_raised() -> None:
    done = run(["bash", "-c", "echo oops >&2; exit 3"])
    assert (done.returncode, done.stderr) == (3, b"oops\n")


def test_a_missing_policy_path_is_refused_before_starting(tmp_path: Path) -> None:
    policy = ProcessPolicy(read_only=(tmp_path / "absent",))
    with pytest.raises(SandboxError, match="does not exist"):
        run(["true"], policy=policy)


def test_a_path_nobody_may_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only a root host drops to uid 65534")
    tmp_path.chmod(0o700)
    with pytest.raises(SandboxError, match=r"cannot read .*chmod o\+rX"):
        run(["true"], policy=ProcessPolicy(read_only=(tmp_path,)))
    with pytest.raises(SandboxError, match="share_writable"):
        run(["true"], policy=ProcessPolicy(writable=(tmp_path,)))


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty list"):
        run([])


def test_rlimits_backend_warns_loudly_and_still_clears_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOOLKERNEL_TEST_LEAK", "secret")
    with pytest.warns(UnsandboxedWarning, match="WITHOUT isolation"):
        done = run(ENV_DUMP, backend="rlimits")
    assert done.warning is not None
    assert "apt-get install bubblewrap" in done.warning
    assert "WITHOUT isolation" in caplog.text
    assert "TOOLKERNEL_TEST_LEAK" not in json.loads(done.stdout)
