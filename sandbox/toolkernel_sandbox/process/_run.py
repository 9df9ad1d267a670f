"""`run`: one sandboxed command, start to finish, with every limit enforced."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from toolkernel_sandbox._errors import LimitExceeded, SandboxError, TimeLimitExceeded
from toolkernel_sandbox.process._argv import cgroup_join_argv, join_failed
from toolkernel_sandbox.process._backends import Launch, pick_backend, prepare
from toolkernel_sandbox.process._cgroups import (
    CgroupSupport,
    RunCgroup,
    cgroup_support,
    join_error,
)
from toolkernel_sandbox.process._limits import limit_error
from toolkernel_sandbox.process._netproxy import behind_proxy
from toolkernel_sandbox.process._policy import ProcessPolicy
from toolkernel_sandbox.process._spares import claim_spare, exec_error
from toolkernel_sandbox.process._streams import Capture, feed, kill_group

__all__ = ["Completed", "run"]

logger = logging.getLogger("toolkernel_sandbox.process")

# After the child exits (or is killed), how long its pipes may take to reach EOF.
_DRAIN_S = 5.0
_STDERR_IN_ERRORS = 4096


@dataclass(frozen=True)
class Completed:
    """A command that ran to its end (any exit code) within every limit.

    Attributes:
        returncode: The command's exit code; `128 + N` (or `-N`) when signal N ended it.
        stdout: Everything it wrote to stdout.
        stderr: Everything it wrote to stderr.
        backend: The backend it ran under (`bwrap`, `firejail`, `nsjail`, `rlimits`).
        elapsed_s: Wall-clock seconds from start to exit.
        warning: Why the run was not isolated (backend `rlimits`), else None.
    """

    returncode: int
    stdout: bytes
    stderr: bytes
    backend: str
    elapsed_s: float
    warning: str | None = None


def run(
    command: Sequence[str],
    *,
    policy: ProcessPolicy | None = None,
    stdin: bytes = b"",
    backend: str | None = None,
    cwd: Path | None = None,
    on_stderr_line: Callable[[str], None] | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    cgroups: CgroupSupport | None = None,
) -> Completed:
    """Run `command` in a sandbox under `policy` and wait for it.

    Args:
        command: The argv to run inside the sandbox; `command[0]` is looked up on the
            sandbox's `PATH` (`/usr/local/bin:/usr/bin:/bin`) unless absolute.
        policy: What it may see and use; the default grants nothing extra. With
            `network_allow`, a filtering proxy (`NetProxy`) serves the run, in this
            process, until it ends.
        stdin: Bytes fed to its stdin, which is then closed.
        backend: One of `BACKENDS`, or None for the best available (`pick_backend`).
        cwd: Where it starts, as a path inside the sandbox; default the tool dir or /tmp.
        on_stderr_line: Called with each stderr line (no newline) as it arrives, on a
            reader thread. If it raises, the run is killed and the error re-raised.
        on_stdout_line: The same for stdout.
        cgroups: Where to make the run's cgroup (its memory and process totals); None
            for this machine's (`cgroup_support()`). One without parents runs on
            rlimits alone.

    Returns:
        The exit code, output and timing; a non-zero exit is not an error here.

    Raises:
        TimeLimitExceeded: Wall clock (`limit="time"`) or CPU time (`limit="cpu"`) ran
            out; the whole process group was killed.
        LimitExceeded: The run passed its memory total (`limit="memory"`: the kernel
            killed a process in it, even if the command then exited 0), output passed
            `stdout_bytes`/`stderr_bytes` (`"stdout"`, `"stderr"`), or a file passed
            `file_size_bytes` (`"file_size"`).
        SandboxUnavailable: No backend can run here; the message says what to install.
        SandboxError: The sandbox could not be started, or not moved into its cgroup;
            or the policy has `network_allow` and the backend is `rlimits`.
        KeyboardInterrupt: Re-raised after the process group is killed.
    """
    picked = pick_backend(backend)
    proxy, policy, command = behind_proxy(picked, policy or ProcessPolicy(), command)
    try:
        return _run(
            picked,
            policy,
            command,
            cwd=cwd,
            cgroups=cgroups,
            stdin=stdin,
            on_stdout_line=on_stdout_line,
            on_stderr_line=on_stderr_line,
        )
    finally:
        if proxy is not None:
            proxy.close()


def _run(
    backend: str,
    policy: ProcessPolicy,
    command: Sequence[str],
    *,
    cwd: Path | None,
    cgroups: CgroupSupport | None,
    stdin: bytes,
    on_stdout_line: Callable[[str], None] | None,
    on_stderr_line: Callable[[str], None] | None,
) -> Completed:
    launch = prepare(backend, policy, command, cwd)
    started = time.monotonic()
    proc, cgroup, spared = _start(launch, policy, cgroups)
    try:
        return _supervised(
            proc,
            launch,
            policy,
            cgroup,
            started=started,
            spared=spared,
            stdin=stdin,
            on_stdout_line=on_stdout_line,
            on_stderr_line=on_stderr_line,
        )
    finally:
        if cgroup is not None:
            cgroup.close()


def _start(
    launch: Launch, policy: ProcessPolicy, cgroups: CgroupSupport | None
) -> tuple[subprocess.Popen[bytes], RunCgroup | None, bool]:
    """Start `launch` in a spare already in its cgroup, else join one on the way in.

    Returns the process, its cgroup (if any), and whether a spare was used.
    """
    spare = claim_spare(cgroups)
    if spare is not None:
        try:
            return spare.start(launch, policy), spare.cgroup, True
        except OSError as exc:
            logger.debug("a spare could not take the run, starting it directly: %s", exc)
    cgroup = RunCgroup.create(policy, cgroups or cgroup_support())
    argv = launch.argv if cgroup is None else cgroup_join_argv(cgroup.procs_files, launch.argv)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **launch.popen_kwargs(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        if cgroup is not None:
            cgroup.close()
        msg = f"could not start the {launch.backend} sandbox: {exc}; is it installed and usable?"
        raise SandboxError(msg) from exc
    return proc, cgroup, False


def _supervised(
    proc: subprocess.Popen[bytes],
    launch: Launch,
    policy: ProcessPolicy,
    cgroup: RunCgroup | None,
    *,
    started: float,
    spared: bool,
    stdin: bytes,
    on_stdout_line: Callable[[str], None] | None,
    on_stderr_line: Callable[[str], None] | None,
) -> Completed:
    supervision = _Supervision(proc, policy, on_stdout_line, on_stderr_line)
    try:
        exited = supervision.start(stdin)
        elapsed = time.monotonic() - started
        if exited:
            supervision.drain()
        else:
            supervision.stop()
    except BaseException:
        supervision.stop()  # KeyboardInterrupt & co. must not leave the sandbox running
        raise
    finally:
        supervision.close()
    out, err = supervision.out, supervision.err
    if spared:
        stderr = bytes(err.data[-_STDERR_IN_ERRORS:]).decode("utf-8", errors="replace")
        failed = exec_error(launch.backend, proc.returncode, stderr)
        if failed is not None:
            raise failed
    _raise_for(policy, cgroup, exited=exited, returncode=proc.returncode, out=out, err=err)
    stdout, stderr_bytes = bytes(out.data), bytes(err.data)
    return Completed(proc.returncode, stdout, stderr_bytes, launch.backend, elapsed, launch.warning)


class _Supervision:
    """One started child: its reader threads, its deadline, and stopping it for good."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        policy: ProcessPolicy,
        on_stdout_line: Callable[[str], None] | None,
        on_stderr_line: Callable[[str], None] | None,
    ) -> None:
        self._proc = proc
        self._timeout_s = policy.timeout_s
        kill = functools.partial(kill_group, proc.pid)
        stdout, stderr = cast(tuple[IO[bytes], IO[bytes]], (proc.stdout, proc.stderr))
        self.out = Capture(stdout, cap=policy.stdout_bytes, on_line=on_stdout_line, on_stop=kill)
        self.err = Capture(stderr, cap=policy.stderr_bytes, on_line=on_stderr_line, on_stop=kill)

    def start(self, stdin: bytes) -> bool:
        """Read, feed `stdin`, and wait until exit or the deadline; True if it exited."""
        self.out.start()
        self.err.start()
        feed(cast(IO[bytes], self._proc.stdin), stdin)
        return _wait(self._proc, self._timeout_s)

    def stop(self) -> None:
        """Kill the group, reap the child and drain the pipes, each wait bounded."""
        if self._proc.returncode is None:  # not reaped, so its pid cannot be reused
            kill_group(self._proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(_DRAIN_S)
        self.drain()

    def close(self) -> None:
        """Close our ends of the pipes, once nothing reads them any more."""
        if self.out.join(0) and self.err.join(0):
            for pipe in (self._proc.stdout, self._proc.stderr):
                if pipe is not None:
                    pipe.close()

    def drain(self) -> None:
        """Wait (bounded) for both pipes to reach end of file.

        A process left in the group (the rlimits backend has no namespace to end) may
        still hold them open: it is killed, since the group outlives its leader.
        """
        if not (self.out.join(_DRAIN_S) and self.err.join(_DRAIN_S)):
            kill_group(self._proc.pid)
            self.out.join(_DRAIN_S)
            self.err.join(_DRAIN_S)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for `proc` to exit, at most `timeout` seconds; True if it did.

    A pidfd wakes us the moment it exits, where `Popen.wait(timeout)` would poll.
    """
    pidfd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if ready:
        proc.wait()
    return bool(ready)


def _raise_for(
    policy: ProcessPolicy,
    cgroup: RunCgroup | None,
    *,
    exited: bool,
    returncode: int,
    out: Capture,
    err: Capture,
) -> None:
    stderr = bytes(err.data[-_STDERR_IN_ERRORS:]).decode("utf-8", errors="replace")
    for capture in (out, err):
        if capture.error is not None:
            raise capture.error
    if cgroup is not None and join_failed(returncode, stderr):
        raise join_error(stderr)
    # Before the others: a kill at the memory total is often what ended the run.
    memory = None if cgroup is None else cgroup.memory_error(stderr)
    if memory is not None:
        raise memory
    if not exited:
        msg = (
            f"the process ran past its {policy.timeout_s:g} s wall-clock limit and was "
            f"killed with its process group; raise ProcessPolicy.timeout_s if it needs longer"
        )
        raise TimeLimitExceeded(msg, limit="time", value=policy.timeout_s, stderr=stderr)
    caps = (("stdout", out, policy.stdout_bytes), ("stderr", err, policy.stderr_bytes))
    for name, capture, cap in caps:
        if capture.overflowed:
            msg = (
                f"the process wrote more than {cap} bytes to {name} and was killed; "
                f"raise ProcessPolicy.{name}_bytes or make it write less"
            )
            raise LimitExceeded(msg, limit=name, value=cap, stderr=stderr)
    error = limit_error(policy, returncode, stderr)
    if error is not None:
        raise error
