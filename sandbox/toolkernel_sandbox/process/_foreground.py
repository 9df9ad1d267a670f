"""`run_foreground`: one long-lived program in a sandbox, in this process's place.

For a program that something else manages as if it were this process (a Jupyter kernel
started by `jupyter_client`): its stdio is this process's, signals sent to this process
reach it, and its exit status becomes this process's. Unlike `run` there is no
wall-clock timeout and no capture; unlike `spawn` there are no pipes.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from toolkernel_sandbox._errors import LimitExceeded
from toolkernel_sandbox.process._argv import cgroup_join_argv
from toolkernel_sandbox.process._backends import pick_backend, prepare
from toolkernel_sandbox.process._cgroups import CgroupSupport, RunCgroup, cgroup_support
from toolkernel_sandbox.process._limits import limit_error, signal_of
from toolkernel_sandbox.process._netproxy import behind_proxy
from toolkernel_sandbox.process._policy import ProcessPolicy

__all__ = ["Exited", "run_foreground"]

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


@dataclass(frozen=True)
class Exited:
    """How a program run by `run_foreground` ended.

    Attributes:
        returncode: Its exit status (`128 + N` when signal N ended it inside).
        limit: The limit that ended it (`memory` from the cgroup total, `cpu`,
            `file_size`), or None.
    """

    returncode: int
    limit: LimitExceeded | None = None

    @property
    def killed(self) -> bool:
        """Whether SIGKILL ended it (a limit, or something outside)."""
        return signal_of(self.returncode) == signal.SIGKILL


def run_foreground(
    command: Sequence[str],
    *,
    policy: ProcessPolicy,
    backend: str | None = None,
    cwd: Path | None = None,
    cgroups: CgroupSupport | None = None,
) -> Exited:
    """Run `command` under `policy` until it exits; return how it ended.

    The sandbox stays in this process's process group (so a signal to the group, such
    as `jupyter_client` killing a kernel, reaches it) and inherits stdin, stdout and
    stderr. SIGTERM, SIGHUP, SIGINT and SIGQUIT sent to this process alone are passed
    on. The memory and process totals (a cgroup, where `cgroups` has one) hold for the
    program's whole life; `policy.timeout_s` does not apply. With `network_allow`, its
    filtering proxy runs on a thread of this process until the program exits.
    `Exited.limit` says which limit ended it, if one did; saying so to a person is the
    caller's job.

    Raises:
        SandboxUnavailable: No backend can run here; the message says what to install.
        SandboxError: A path the policy shows is missing or unusable.
    """
    picked = pick_backend(backend)
    proxy, policy, command = behind_proxy(picked, policy, command)
    try:
        return _run(picked, policy, command, cwd, cgroups)
    finally:
        if proxy is not None:
            proxy.close()


def _run(
    backend: str,
    policy: ProcessPolicy,
    command: Sequence[str],
    cwd: Path | None,
    cgroups: CgroupSupport | None,
) -> Exited:
    launch = prepare(backend, policy, command, cwd)
    cgroup = RunCgroup.create(policy, cgroups or cgroup_support())
    argv = launch.argv if cgroup is None else cgroup_join_argv(cgroup.procs_files, launch.argv)
    kwargs = launch.popen_kwargs()
    kwargs["start_new_session"] = False
    try:
        with _passing_signals() as forward:
            proc = subprocess.Popen(argv, **kwargs)
            forward.append(proc)
            returncode = proc.wait()
        limit = cgroup.memory_error() if cgroup is not None else None
        return Exited(returncode, limit or limit_error(policy, returncode, ""))
    finally:
        if cgroup is not None:
            cgroup.close()


@contextlib.contextmanager
def _passing_signals() -> Generator[list[subprocess.Popen[bytes]], None, None]:
    """Pass the forwarded signals to the started process (appended to the yielded list)."""
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        for proc in started:
            with contextlib.suppress(OSError):
                proc.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        yield started
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
