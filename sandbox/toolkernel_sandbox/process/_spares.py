"""Spares: a process already inside a fresh run cgroup, waiting for what to run.

Moving a process into a cgroup (its write to `cgroup.procs`) waits for an RCU grace
period in the kernel, about 5 to 15 ms, which is as long as bubblewrap takes to start.
A spare pays it ahead of time. One long-lived thread makes it: a new run cgroup with
no totals yet and, inside it, a small Python program (`_PROGRAM`) that waits on a pipe.
A run claims the ready spare, writes its policy's totals into the cgroup, and sends the
argv, environment and working directory; the program execs them. The thread then makes
the next spare.

The program keeps one pid from the join to the exec, in a session of its own, so
killing its group and reading its exit code work as for a direct start. A spare runs
nothing of the caller's before the limits are written, and a spare never serves twice.

Spares serve runs that use this machine's `cgroup_support()` (not one passed in), and
only where it has a hierarchy. `TOOLKERNEL_SANDBOX_SPARES=0` turns them off. If a spare
cannot be made, the reason is logged once and spares stay off for the process: runs
then join their cgroup directly, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
from collections.abc import Sequence

from toolkernel_sandbox._errors import SandboxError
from toolkernel_sandbox.process._argv import cgroup_join_argv
from toolkernel_sandbox.process._backends import Launch
from toolkernel_sandbox.process._cgroups import CgroupSupport, RunCgroup, cgroup_support
from toolkernel_sandbox.process._policy import ProcessPolicy

__all__ = [
    "EXEC_FAILED",
    "EXEC_MARKER",
    "SPARES_VARIABLE",
    "Spare",
    "claim_spare",
    "exec_error",
    "spare_ready",
]

logger = logging.getLogger("toolkernel_sandbox.process")

#: The variable that turns spares off (`0`); any other value, or none, leaves them on.
SPARES_VARIABLE = "TOOLKERNEL_SANDBOX_SPARES"
#: The exit code of a spare whose exec failed, and the words it writes to stderr then.
EXEC_FAILED = 127
EXEC_MARKER = "toolkernel_sandbox: could not exec the sandbox"
_PREFIX = "toolkernel-spare-"
_READY = b"+"
_READY_WAIT_S = 10.0
_CHUNK = 65536

# Run as `python -I -S -c _PROGRAM FD`, after the join prefix has moved it into the
# cgroup: it says it is ready on stdout, reads one JSON request from FD until end of
# file (none: the host is gone or let it go), and becomes the command.
_PROGRAM = f"""\
import json, os, signal, sys
control = int(sys.argv[1])
os.write(1, {_READY!r})
chunks = []
while chunk := os.read(control, {_CHUNK}):
    chunks.append(chunk)
os.close(control)
if not chunks:
    os._exit(0)
request = json.loads(b"".join(chunks))
# Python ignores these at start, and an ignored signal stays ignored across exec.
for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ"):
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
try:
    if request["cwd"] is not None:
        os.chdir(request["cwd"])
    os.execvpe(request["argv"][0], request["argv"], request["env"])
except OSError as exc:
    os.write(2, ({EXEC_MARKER!r} + ": " + str(exc) + "\\n").encode())
os._exit({EXEC_FAILED})
"""


def exec_error(backend: str, returncode: int | None, stderr: str) -> SandboxError | None:
    """The error for a spare that could not exec `backend`, or None if it did."""
    if returncode != EXEC_FAILED or EXEC_MARKER not in stderr:
        return None
    line = next(ln for ln in stderr.splitlines() if EXEC_MARKER in ln)
    detail = line.split(EXEC_MARKER, 1)[1].removeprefix(": ")
    msg = f"could not start the {backend} sandbox: {detail}; is it installed and usable?"
    return SandboxError(msg, stderr=stderr)


class Spare:
    """One waiting process in an unlimited run cgroup; `start` it once, or `discard` it."""

    def __init__(self, popen: subprocess.Popen[bytes], cgroup: RunCgroup, control: int) -> None:
        self.popen = popen
        self.cgroup = cgroup
        self._control: int | None = control

    def start(self, launch: Launch, policy: ProcessPolicy) -> subprocess.Popen[bytes]:
        """Limit the cgroup to `policy`, then exec `launch` in the waiting process.

        Raises:
            OSError: The totals could not be written, or the process is gone; the
                spare is discarded and nothing ran.
        """
        try:
            self.cgroup.limit(policy)
            cwd = None if launch.cwd is None else str(launch.cwd)
            request = {"argv": launch.argv, "env": launch.env, "cwd": cwd}
            self._send(json.dumps(request).encode())
        except OSError:
            self.discard()
            raise
        return self.popen

    def discard(self) -> None:
        """Let the process exit unused, wait for it (bounded) and remove the cgroup."""
        self.release_pipe()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(_READY_WAIT_S)
        if self.popen.returncode is None:
            self.popen.kill()
            self.popen.wait()
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()
        self.cgroup.close()

    def _send(self, data: bytes) -> None:
        if self._control is None:
            msg = "this spare was already started"
            raise OSError(msg)
        view = memoryview(data)
        while view:
            view = view[os.write(self._control, view) :]
        self.release_pipe()

    def release_pipe(self) -> None:
        """Close our end of the pipe (the waiting process then sees end of file)."""
        control, self._control = self._control, None
        if control is not None:
            os.close(control)


class _Unusable(Exception):
    """A spare could not be made here: why, for the one log record."""


def _wanted() -> int:
    return 0 if os.environ.get(SPARES_VARIABLE, "").strip() == "0" else 1


def _make(support: CgroupSupport) -> Spare:
    if not sys.executable:
        msg = "this Python does not know its own executable"
        raise _Unusable(msg)
    try:
        cgroup = RunCgroup.unlimited(support, prefix=_PREFIX)
    except OSError as exc:
        msg = f"could not make its cgroup: {exc}"
        raise _Unusable(msg) from exc
    if cgroup is None:
        msg = "no cgroup hierarchy to make it in"
        raise _Unusable(msg)
    read_end, control = os.pipe()
    program: Sequence[str] = [sys.executable, "-I", "-S", "-c", _PROGRAM, str(read_end)]
    try:
        popen = subprocess.Popen(
            cgroup_join_argv(cgroup.procs_files, program),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(read_end,),
            start_new_session=True,
            close_fds=True,
            env={},
            cwd="/",
        )
    except OSError as exc:
        os.close(control)
        cgroup.close()
        msg = f"could not start it: {exc}"
        raise _Unusable(msg) from exc
    finally:
        os.close(read_end)
    spare = Spare(popen, cgroup, control)
    if _ready(popen):
        return spare
    popen.kill()  # silent or gone: either way it never ran anything
    _, stderr = popen.communicate(timeout=_READY_WAIT_S)
    spare.discard()
    said = stderr.decode(errors="replace").strip() or f"exit {popen.returncode}"
    msg = f"it did not start: {said}"
    raise _Unusable(msg)


def _ready(popen: subprocess.Popen[bytes]) -> bool:
    """Whether the program said it is waiting (within `_READY_WAIT_S`)."""
    stdout = popen.stdout
    if stdout is None:
        return False
    ready, _, _ = select.select([stdout], [], [], _READY_WAIT_S)
    return bool(ready) and os.read(stdout.fileno(), 1) == _READY


class _Pool:
    """The ready spare, and the thread that makes the next one."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._changed = threading.Condition()
        self._ready: list[Spare] = []
        self._thread: threading.Thread | None = None
        self._off: str | None = None
        self._support: CgroupSupport | None = None

    def claim(self) -> Spare | None:
        """The ready spare, if there is one; either way the thread makes the next."""
        if _wanted() == 0:
            return None
        with self._changed:
            if self._off is not None:
                return None
            if self._thread is None:
                self._start()
            spare = self._ready.pop() if self._ready else None
            self._changed.notify_all()
            return spare

    def wait_ready(self, timeout: float) -> bool:
        """Start making spares if needed; True once one is ready, False at `timeout`."""
        if self.claim_nothing() is False:
            return False
        with self._changed:
            return self._changed.wait_for(
                lambda: bool(self._ready) or self._off is not None, timeout
            ) and bool(self._ready)

    def claim_nothing(self) -> bool:
        """Start the thread as a claim would, and take nothing; False when spares are off."""
        if _wanted() == 0:
            return False
        with self._changed:
            if self._off is None and self._thread is None:
                self._start()
            return self._off is None

    def shutdown(self) -> None:
        """Discard every ready spare and make no more (at interpreter exit)."""
        with self._changed:
            self._off = self._off or "the process is exiting"
            ready, self._ready = self._ready, []
            self._changed.notify_all()
        for spare in ready:
            spare.discard()

    def after_fork_in_child(self) -> None:
        """A forked child shares nothing: its own lock, no spares, no thread."""
        for spare in self._ready:  # our copy of its pipe, so its end of file still comes
            with contextlib.suppress(OSError):
                spare.release_pipe()
        self._reset()

    def _start(self) -> None:
        self._support = cgroup_support()
        if not self._support.dirs:
            self._off = self._support.reason or "no cgroup here"
            return
        # The thread lives as long as the process: bubblewrap's --die-with-parent
        # follows the thread that started it, and a spare is started from this one.
        self._thread = threading.Thread(target=self._make_forever, name="sandbox-spares")
        self._thread.daemon = True
        self._thread.start()
        atexit.register(self.shutdown)

    def _make_forever(self) -> None:
        support = self._support
        assert support is not None  # noqa: S101 - set before the thread starts
        while True:
            with self._changed:
                while self._off is not None or len(self._ready) >= _wanted():
                    self._changed.wait(60.0)
            try:
                spare = _make(support)
            except _Unusable as exc:
                logger.info("sandbox spares are off, runs join their cgroup directly: %s", exc)
                with self._changed:
                    self._off = str(exc)
                    self._changed.notify_all()
                continue
            with self._changed:
                if self._off is None:
                    self._ready.append(spare)
                    self._changed.notify_all()
                    continue
            spare.discard()


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.after_fork_in_child)


def claim_spare(cgroups: CgroupSupport | None) -> Spare | None:
    """A spare for a run with `cgroups` (None: this machine's), or None to start directly.

    Only runs on this machine's `cgroup_support()` get one; the first call starts the
    thread that makes them, so it gets none.
    """
    return _POOL.claim() if cgroups is None else None


def spare_ready(timeout: float) -> bool:
    """Start making spares (if they are on here) and wait until one is ready.

    False when spares are off (`TOOLKERNEL_SANDBOX_SPARES=0`, no cgroup, or one could
    not be made) or none was ready within `timeout` seconds. A host may call it once at
    start, so that its first run gets a spare too.
    """
    return _POOL.wait_ready(timeout)
