"""The sandboxed kernel's launcher and policy, in process (no kernel started)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from toolkernel.sandboxed import ENV_ALLOWLIST, HOST_SOCKET_VAR, KernelLimits, kernel_policy
from toolkernel.sandboxed._launcher import checked_workspace, explain_exit, main, python_paths
from toolkernel_sandbox import LimitExceeded, TimeLimitExceeded
from toolkernel_sandbox.process import Exited, ProcessPolicy


def _policy(tmp_path: Path, environ: dict[str, str]) -> ProcessPolicy:
    return kernel_policy(
        workspace=tmp_path / "work",
        sockets_dir=tmp_path / "sockets",
        limits=KernelLimits(memory_bytes=2**30, processes=32, cpu_s=60),
        environ=environ,
        python_paths=[Path("/opt/py"), Path("/opt/py/lib"), tmp_path / "work"],
        package_paths=[Path("/src/kernel"), Path("/src/sandbox")],
    )


def test_the_policy_passes_only_the_allowlist_and_its_own_variables(tmp_path: Path) -> None:
    environ = {"SECRET_TOKEN": "x", "JPY_SESSION_NAME": "/n/a.ipynb", "HOME": "/root"}
    policy = _policy(tmp_path, environ)
    assert dict(policy.env) == {
        "JPY_SESSION_NAME": "/n/a.ipynb",
        "PYTHONPATH": "/src/kernel:/src/sandbox",
        "TOOLKERNEL_HOME": "/tmp/toolkernel",
        "TOOLKERNEL_SANDBOXED": "1",
    }
    assert set(ENV_ALLOWLIST) == {"JPY_SESSION_NAME", HOST_SOCKET_VAR}


def test_the_policy_shows_python_read_only_and_the_workspace_writable(tmp_path: Path) -> None:
    policy = _policy(tmp_path, {})
    assert policy.read_only == (Path("/opt/py"),)
    assert policy.writable == (tmp_path / "work", tmp_path / "sockets")
    assert policy.network is False
    assert (policy.memory_bytes, policy.processes, policy.cpu_s) == (2**30, 32, 60)


def test_the_host_sockets_folder_is_shown_read_only_and_named_inside(tmp_path: Path) -> None:
    policy = _policy(tmp_path, {HOST_SOCKET_VAR: "/run/tk/host.sock"})
    assert Path("/run/tk") in policy.read_only
    assert policy.env[HOST_SOCKET_VAR] == "/run/tk/host.sock"


def test_a_tcp_connection_file_is_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "key": "k"}))
    assert main(["-f", str(connection)]) == 1
    err = capsys.readouterr().err
    assert "needs 'ipc'" in err
    assert "toolkernel-sandboxed kernelspec" in err


@pytest.mark.parametrize("option", ["-f", "/etc/passwd", "--x=1", "--A.b", "-A.b=1", "--A..b=1"])
def test_a_kernel_option_that_is_not_a_traitlets_option_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "ipc", "ip": str(tmp_path / "k"), "key": ""}))
    # Were the option taken, the launcher would go on: keep its workspace in tmp_path.
    argv = ["-f", str(connection), "--workspace", str(tmp_path), f"--kernel-option={option}"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "is not a kernel option of the form --Class.name=value" in capsys.readouterr().err


def test_the_interpreters_folders_never_include_the_home_or_an_ancestor_of_it() -> None:
    shown = python_paths()
    assert shown
    assert all(not Path.home().is_relative_to(path) for path in shown)
    assert Path(sys.prefix) in shown


def test_a_kernel_ended_by_a_limit_is_explained_with_the_option_to_raise_it() -> None:
    limits = KernelLimits(memory_bytes=2**30, cpu_s=5)
    cpu = TimeLimitExceeded("cpu", limit="cpu", value=5)
    assert "5 s of CPU time" in (explain_exit(Exited(128 + 24, cpu), limits) or "")
    memory = LimitExceeded("memory", limit="memory", value=2**30)
    said = explain_exit(Exited(137, memory), limits) or ""
    assert "memory total" in said
    assert "TOOLKERNEL_SANDBOX_MEMORY" in said
    assert "Jupyter restarts it" in said
    assert "killed (SIGKILL)" in (explain_exit(Exited(137), limits) or "")
    assert explain_exit(Exited(0), limits) is None


@pytest.mark.parametrize("chosen", [Path.home(), Path("/"), Path("/tmp")])
def test_a_workspace_that_would_show_the_home_or_tmp_is_refused(chosen: Path) -> None:
    with pytest.raises(ValueError, match="open the notebook from a project folder"):
        checked_workspace(chosen, Path("/tmp/tk-sandbox-x"))


def test_a_project_folder_is_a_workspace(tmp_path: Path) -> None:
    assert checked_workspace(tmp_path, Path("/tmp/tk-sandbox-x")) == tmp_path
