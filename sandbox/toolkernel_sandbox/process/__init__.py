r"""Run untrusted programs under a real sandbox: bubblewrap, firejail or nsjail.

    done = run(["python3", "-c", "print(input())"], stdin=b"hi\\n")
    done.returncode, done.stdout, done.backend        # 0, b"hi\\n", "bwrap"

    async with await spawn(["python3", "worker.py"], policy=policy) as worker:
        worker.write(b'{"jsonrpc": "2.0", ...}\\n')
        line = await worker.readline()

What a sandboxed process gets (`ProcessPolicy`): the system directories and a minimal
/etc read-only (never /etc/shadow), a private /tmp of `tmp_bytes`, no home directories,
no network
unless `network=True` (the bool; anything else is refused), an environment of `PATH`,
`LANG`, `HOME=/tmp`, `TMPDIR=/tmp` plus what the policy declares, rlimits per process
(CPU, address space, processes, file size, open files), totals per run, a wall-clock
timeout that kills the whole process group, and capped output. When this process is
root, the code runs as uid 65534, or as a uid of its own (`ProcessPolicy.uid`,
`identity_for(tool)`), in group 65534.

Totals per run: each `run`, and each `spawn`ed worker, gets a cgroup of its own under
this process's cgroup (v2, else v1; `cgroup_support`), joined before its first fork by
a `/bin/sh` prefix (`cgroup_join_argv`), and removed, with anything left inside, when
the run ends. There `memory_bytes` is also the total of all its processes and of what
they write to tmpfs, and `processes` the total of its tasks. Past the memory total the
kernel kills a process and the run fails with `LimitExceeded(limit="memory")`
(`SandboxedProcess.memory_exceeded()` for a worker). Where no cgroup can be made (not
root, not delegated, cgroup v2 with controllers kept from our cgroup) one log record and
`cgroup_support().reason` say why, and runs rely on the rlimits and the sized `/tmp`
(bwrap, nsjail; firejail cannot size its `/tmp`, so only `file_size_bytes` bounds it).

Backends (`pick_backend`): `bwrap` first, then `firejail`, then `nsjail`; each is
checked once by starting a trivial sandbox. `rlimits` (limits without isolation) is
used only when asked for by name, and warns (`UnsandboxedWarning`, a log record and
`Completed.warning`). `run_foreground` runs one long-lived program (a kernel) in this
process's place: its stdio, its signals, its exit status. The argv builders are pure
functions of a policy and a `HostLayout`, for tests and for inspection.

Errors (from `toolkernel_sandbox`): `TimeLimitExceeded` (`limit` is `time` or `cpu`),
`LimitExceeded` (`memory`, `stdout`, `stderr`, `file_size`), `SandboxUnavailable` (says
what to install) and `SandboxError`.
"""

from toolkernel_sandbox.process._argv import (
    bwrap_argv,
    cgroup_join_argv,
    firejail_argv,
    inner_command,
    nsjail_argv,
)
from toolkernel_sandbox.process._backends import (
    BACKENDS,
    Launch,
    UnsandboxedWarning,
    pick_backend,
    prepare,
)
from toolkernel_sandbox.process._cgroups import CgroupSupport, cgroup_support, find_cgroups
from toolkernel_sandbox.process._foreground import Exited, run_foreground
from toolkernel_sandbox.process._layout import HostLayout, host_layout
from toolkernel_sandbox.process._limits import signal_of
from toolkernel_sandbox.process._policy import (
    IDENTITY_RANGE,
    SANDBOX_GID,
    SANDBOX_UID,
    ProcessPolicy,
    identity_for,
    sandbox_env,
    share_writable,
)
from toolkernel_sandbox.process._run import Completed, run
from toolkernel_sandbox.process._spawn import SandboxedProcess, spawn

__all__ = [
    "BACKENDS",
    "IDENTITY_RANGE",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "CgroupSupport",
    "Completed",
    "Exited",
    "HostLayout",
    "Launch",
    "ProcessPolicy",
    "SandboxedProcess",
    "UnsandboxedWarning",
    "bwrap_argv",
    "cgroup_join_argv",
    "cgroup_support",
    "find_cgroups",
    "firejail_argv",
    "host_layout",
    "identity_for",
    "inner_command",
    "nsjail_argv",
    "pick_backend",
    "prepare",
    "run",
    "run_foreground",
    "sandbox_env",
    "share_writable",
    "signal_of",
    "spawn",
]
