"""Resource limits: the `prlimit` flags that set them, and reading them off an exit."""

from __future__ import annotations

import dataclasses
import resource
import signal
from typing import Any

from toolkernel_sandbox._errors import LimitExceeded, TimeLimitExceeded
from toolkernel_sandbox.process._policy import ProcessPolicy

__all__ = ["limit_error", "prlimit_flags", "signal_of", "within_hard_limits"]

_RLIMITS = {
    "memory_bytes": resource.RLIMIT_AS,
    "cpu_s": resource.RLIMIT_CPU,
    "file_size_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "processes": resource.RLIMIT_NPROC,
}


def prlimit_flags(policy: ProcessPolicy) -> list[str]:
    """util-linux `prlimit` flags that set every rlimit of `policy` (soft:hard).

    The limits are set by `prlimit` inside the sandbox, just before the command, not by
    a `preexec_fn`: that is unsafe in a process with threads (the kernel has several)
    and makes every spawn slower. Inside the sandbox, `RLIMIT_NPROC` also counts only
    the sandbox's processes, once its user namespace exists.
    """
    # SIGXCPU at the soft limit, SIGKILL a second later for code that ignores SIGXCPU.
    return [
        f"--as={policy.memory_bytes}:{policy.memory_bytes}",
        f"--cpu={policy.cpu_s}:{policy.cpu_s + 1}",
        f"--fsize={policy.file_size_bytes}:{policy.file_size_bytes}",
        f"--nofile={policy.open_files}:{policy.open_files}",
        f"--nproc={policy.processes}:{policy.processes}",
    ]


def within_hard_limits(policy: ProcessPolicy) -> ProcessPolicy:
    """`policy` with each limit lowered to this process's hard limit, if that is lower.

    A process that is not root may lower its limits but never raise a hard limit.
    """
    lowered: dict[str, Any] = {}
    for name, which in _RLIMITS.items():
        _, hard = resource.getrlimit(which)
        wanted = getattr(policy, name)
        if hard != resource.RLIM_INFINITY and wanted > hard:
            lowered[name] = hard
    return dataclasses.replace(policy, **lowered) if lowered else policy


def signal_of(returncode: int) -> int | None:
    """The signal that ended a process: `-N` from Popen, or `128 + N` from bwrap/firejail."""
    if returncode < 0:
        return -returncode
    if 128 < returncode < 128 + 65:
        return returncode - 128
    return None


def limit_error(policy: ProcessPolicy, returncode: int, stderr: str) -> LimitExceeded | None:
    """The limit error a run's exit shows, if any: SIGXCPU for CPU, SIGXFSZ for file size."""
    sig = signal_of(returncode)
    if sig == signal.SIGXCPU:
        msg = (
            f"the process used its {policy.cpu_s} s of CPU time and was stopped; "
            f"raise ProcessPolicy.cpu_s if it needs more"
        )
        return TimeLimitExceeded(msg, limit="cpu", value=policy.cpu_s, stderr=stderr)
    if sig == signal.SIGXFSZ:
        msg = (
            f"the process wrote a file larger than {policy.file_size_bytes} bytes and was "
            f"stopped; raise ProcessPolicy.file_size_bytes if it needs more"
        )
        return LimitExceeded(msg, limit="file_size", value=policy.file_size_bytes, stderr=stderr)
    return None
