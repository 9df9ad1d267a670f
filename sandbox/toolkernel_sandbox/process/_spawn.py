"""`spawn`: a long-lived sandboxed worker on an asyncio loop, spoken to over stdio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import cast

from toolkernel_sandbox._errors import LimitExceeded, SandboxError, TimeLimitExceeded
from toolkernel_sandbox.process._argv import cgroup_join_argv, join_failed
from toolkernel_sandbox.process._backends import Launch, pick_backend, prepare
from toolkernel_sandbox.process._cgroups import (
    CgroupSupport,
    RunCgroup,
    cgroup_support,
    join_error,
)
from toolkernel_sandbox.process._netproxy import NetProxy, behind_proxy
from toolkernel_sandbox.process._policy import ProcessPolicy
from toolkernel_sandbox.process._spares import Spare, claim_spare, exec_error
from toolkernel_sandbox.process._streams import kill_group

__all__ = ["SandboxedProcess", "spawn"]

logger = logging.getLogger("toolkernel_sandbox.process")

_CHUNK = 65536
_REAP_S = 5.0


async def spawn(
    command: Sequence[str],
    *,
    policy: ProcessPolicy | None = None,
    backend: str | None = None,
    cwd: Path | None = None,
    cgroups: CgroupSupport | None = None,
) -> SandboxedProcess:
    """Start `command` in a sandbox and return it running, its stdio as pipes.

    Meant for workers that answer many requests (JSON-RPC over stdio). The rlimits
    apply for the worker's whole life; `policy.timeout_s` does not (bound each request
    with `asyncio.timeout` and `kill()` a worker that misses it). `stdout_bytes` bounds
    one line, and `stderr_bytes` the kept tail of stderr. The memory and process totals
    (its cgroup, made in `cgroups`, default `cgroup_support()`) hold for its whole life
    too; `memory_exceeded()` says whether the memory total stopped it. With
    `policy.network_allow`, its filtering proxy runs until the worker is reaped.

    Raises:
        SandboxUnavailable: No backend can run here; the message says what to install.
        SandboxError: The sandbox could not be started.
    """
    # Picking probes the backend once and reads the filesystem: keep it off the loop.
    proxy, shown, command = await asyncio.to_thread(
        _proxy, backend, policy or ProcessPolicy(), command
    )
    try:
        launch, started = await asyncio.to_thread(_launch, backend, shown, command, cwd, cgroups)
        if isinstance(started, Spare):
            proc = await _AdoptedProcess.adopt(started.popen, limit=shown.stdout_bytes)
            return SandboxedProcess(proc, shown, launch, started.cgroup, spared=True, proxy=proxy)
        created = await _create(launch, shown, started)
    except BaseException:
        if proxy is not None:
            await asyncio.to_thread(proxy.close)
        raise
    return SandboxedProcess(created, shown, launch, started, proxy=proxy)


async def _create(
    launch: Launch, policy: ProcessPolicy, cgroup: RunCgroup | None
) -> asyncio.subprocess.Process:
    argv = launch.argv if cgroup is None else cgroup_join_argv(cgroup.procs_files, launch.argv)
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=policy.stdout_bytes,
            **launch.popen_kwargs(),
        )
    except BaseException as exc:
        if cgroup is not None:
            cgroup.close()
        if not isinstance(exc, OSError):
            raise
        msg = f"could not start the {launch.backend} sandbox: {exc}; is it installed and usable?"
        raise SandboxError(msg) from exc


def _proxy(
    backend: str | None, policy: ProcessPolicy, command: Sequence[str]
) -> tuple[NetProxy | None, ProcessPolicy, Sequence[str]]:
    return behind_proxy(pick_backend(backend), policy, command)


def _launch(
    backend: str | None,
    policy: ProcessPolicy,
    command: Sequence[str],
    cwd: Path | None,
    cgroups: CgroupSupport | None,
) -> tuple[Launch, Spare | RunCgroup | None]:
    """The launch, and either a started spare or the cgroup to join on the way in."""
    launch = prepare(pick_backend(backend), policy, command, cwd)
    spare = claim_spare(cgroups)
    if spare is not None:
        try:
            spare.start(launch, policy)
        except OSError as exc:
            logger.debug("a spare could not take the worker, starting it directly: %s", exc)
        else:
            return launch, spare
    return launch, RunCgroup.create(policy, cgroups or cgroup_support())


class _AdoptedProcess:
    """A process started with `subprocess.Popen`, spoken to from asyncio.

    It offers what `SandboxedProcess` uses of `asyncio.subprocess.Process`: the three
    pipes as streams, `pid`, `returncode` and `wait()`. Its exit is watched with a
    pidfd on the loop; nothing else waits for it, so no child watcher is involved.
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self._popen = popen
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[None] = loop.create_future()
        self._pidfd = os.pidfd_open(popen.pid)
        loop.add_reader(self._pidfd, self._on_exit)

    @classmethod
    async def adopt(cls, popen: subprocess.Popen[bytes], *, limit: int) -> _AdoptedProcess:
        """Connect `popen`'s pipes (all three must be pipes) to the running loop."""
        loop = asyncio.get_running_loop()
        stdout = asyncio.StreamReader(limit=limit, loop=loop)
        stderr = asyncio.StreamReader(limit=limit, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), popen.stdout)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stderr), popen.stderr)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, popen.stdin
        )
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return cls(popen, stdin, stdout, stderr)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """Wait until it exits; its exit code (negative: the signal that ended it)."""
        await asyncio.shield(self._exited)
        return cast(int, self._popen.returncode)

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._popen.wait()  # it has exited: this reaps it at once
        self.stdin.close()  # as for a pipe whose reader is gone
        if not self._exited.done():
            self._exited.set_result(None)


class SandboxedProcess:
    """A running sandboxed worker. Use it as `async with` to be sure it is killed.

    Attributes:
        backend: The backend it runs under.
        warning: Why it is not isolated (backend `rlimits`), else None.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process | _AdoptedProcess,
        policy: ProcessPolicy,
        launch: Launch,
        cgroup: RunCgroup | None = None,
        *,
        spared: bool = False,
        proxy: NetProxy | None = None,
    ) -> None:
        self.backend = launch.backend
        self._spared = spared
        self.warning = launch.warning
        self._proc = proc
        # All three were started as pipes, so none is None.
        self._stdin = cast(asyncio.StreamWriter, proc.stdin)
        self._stdout = cast(asyncio.StreamReader, proc.stdout)
        self._stderr = cast(asyncio.StreamReader, proc.stderr)
        self._policy = policy
        self._cgroup = cgroup
        self._proxy = proxy
        self._tail = bytearray()
        self._stderr_task = asyncio.create_task(self._keep_stderr_tail())

    @property
    def pid(self) -> int:
        """The host pid of the process group leader (the backend's process)."""
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited and been waited for, else None."""
        return self._proc.returncode

    def write(self, data: bytes) -> None:
        """Queue `data` for its stdin; `await drain()` to wait until it is sent."""
        self._stdin.write(data)

    async def drain(self) -> None:
        """Wait until queued stdin is sent (raises `ConnectionResetError` if it exited)."""
        await self._stdin.drain()

    def close_stdin(self) -> None:
        """Close its stdin, so it sees end of file."""
        self._stdin.close()

    async def readline(self) -> bytes:
        """The next line of its stdout, newline included; `b""` at end of file.

        Raises:
            LimitExceeded: A line was longer than `stdout_bytes`; the worker is killed.
        """
        try:
            return await self._stdout.readline()
        except ValueError as exc:  # asyncio's "chunk exceed the limit"
            self.kill()
            msg = (
                f"the worker wrote a line longer than {self._policy.stdout_bytes} bytes and "
                f"was killed; raise ProcessPolicy.stdout_bytes or make it write shorter lines"
            )
            limit = self._policy.stdout_bytes
            raise LimitExceeded(
                msg, limit="stdout", value=limit, stderr=self.stderr_tail()
            ) from exc

    def memory_exceeded(self) -> bool:
        """Whether the kernel killed a process of this worker at its memory total.

        Asked after it exited (or closed its output), this tells "stopped: memory limit"
        apart from a crash. False where no cgroup holds the total (`cgroup_support()`).
        """
        return self._cgroup is not None and self._cgroup.memory_exhausted()

    def limit_error(self) -> LimitExceeded | None:
        """`LimitExceeded(limit="memory")` if the memory total stopped it, else None."""
        if self._cgroup is None:
            return None
        return self._cgroup.memory_error(self.stderr_tail())

    def stderr_tail(self) -> str:
        """The last `stderr_bytes` of what it wrote to stderr, decoded leniently."""
        return self._tail.decode("utf-8", errors="replace")

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit and return its exit code.

        Raises:
            TimeLimitExceeded: It did not exit within `timeout` seconds; it was killed.
            SandboxError: The sandbox could not move into its cgroup, or could not be
                started, so never ran.
        """
        try:
            async with asyncio.timeout(timeout):
                code = await self._proc.wait()
        except TimeoutError:
            self.kill()
            await self._reap()
            msg = f"the worker did not exit within {timeout:g} s and was killed"
            raise TimeLimitExceeded(
                msg, limit="time", value=timeout or 0.0, stderr=self.stderr_tail()
            ) from None
        await self._reap()
        if self._cgroup is not None and join_failed(code, self.stderr_tail()):
            raise join_error(self.stderr_tail())
        failed = exec_error(self.backend, code, self.stderr_tail()) if self._spared else None
        if failed is not None:
            raise failed
        return code

    def kill(self) -> None:
        """SIGKILL its whole process group (the sandbox and all inside it)."""
        if self._proc.returncode is None:
            kill_group(self._proc.pid)

    async def aclose(self) -> None:
        """Kill it if still running and wait (bounded) until it is gone."""
        self.kill()
        await self._reap()

    async def __aenter__(self) -> SandboxedProcess:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _reap(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_REAP_S):
                await self._proc.wait()
                await self._stderr_task
        if self._cgroup is not None:
            # Kills what is left inside and removes the cgroup; it keeps the OOM verdict.
            await asyncio.to_thread(self._cgroup.close)
        if self._proxy is not None:
            proxy, self._proxy = self._proxy, None
            await asyncio.to_thread(proxy.close)

    async def _keep_stderr_tail(self) -> None:
        keep = self._policy.stderr_bytes
        while chunk := await self._stderr.read(_CHUNK):
            self._tail += chunk
            del self._tail[:-keep]
