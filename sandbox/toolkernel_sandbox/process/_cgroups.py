"""One cgroup per run: the memory and process totals of everything a sandbox starts.

rlimits bind each process on its own (six children may each hold `RLIMIT_AS`), so a
run's totals come from a cgroup made for it, under this process's own cgroup, in each
hierarchy that has the controller: cgroup v2 (`memory.max`, `memory.swap.max`,
`pids.max`, `memory.oom.group`) or v1 (`memory.limit_in_bytes`,
`memory.memsw.limit_in_bytes`, `pids.max`). tmpfs pages are charged to the memory
cgroup of whoever writes them, so the total bounds a sandbox's `/tmp` too.

The sandbox joins its cgroups before it can fork, with no `preexec_fn` (unsafe in a
process with threads): a `/bin/sh` prefix writes its own pid into each `cgroup.procs`,
then execs the backend (`cgroup_join_argv`, in `_argv`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import itertools
import logging
import os
import secrets
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from toolkernel_sandbox._errors import LimitExceeded, SandboxError
from toolkernel_sandbox.process._argv import JOIN_MARKER
from toolkernel_sandbox.process._policy import ProcessPolicy

__all__ = [
    "CgroupSupport",
    "RunCgroup",
    "cgroup_support",
    "find_cgroups",
    "join_error",
    "remove_stale",
]

logger = logging.getLogger("toolkernel_sandbox.process")

_CONTROLLERS = ("memory", "pids")
_NAME_PREFIX = "toolkernel-"
# Tasks that outlive the run (being torn down, or orphans) are killed, then waited for.
_REMOVE_TRIES = 10
_EXIT_WAIT_S = 2.0
_counter = itertools.count(1)


@dataclass(frozen=True)
class CgroupSupport:
    """Where this process can make a cgroup per run, or why it cannot.

    Attributes:
        version: 2 (unified) or 1 (one hierarchy per controller) where found, else 0.
        memory: The directory run cgroups are made in for the memory total (this
            process's own memory cgroup), or None without one.
        pids: The same for the process total, or None.
        reason: Why a total is not enforced here (no cgroup, not root, not delegated),
            or None when both are.
    """

    version: int = 0
    memory: Path | None = None
    pids: Path | None = None
    reason: str | None = None

    @property
    def dirs(self) -> tuple[Path, ...]:
        """The distinct parent directories (one under v2, up to two under v1)."""
        found = [d for d in (self.memory, self.pids) if d is not None]
        return tuple(dict.fromkeys(found))


def join_error(stderr: str) -> SandboxError:
    """The error for a sandbox that could not enter its run cgroup."""
    line = next((ln for ln in stderr.splitlines() if JOIN_MARKER in ln), JOIN_MARKER)
    msg = (
        f"the sandbox could not move into its run cgroup ({line.removeprefix(JOIN_MARKER)}); "
        "check that this process may write the cgroup's cgroup.procs"
    )
    return SandboxError(msg, stderr=stderr)


def find_cgroups(
    proc_cgroup: Path = Path("/proc/self/cgroup"),
    mountinfo: Path = Path("/proc/self/mountinfo"),
) -> CgroupSupport:
    """Find this process's own memory and pids cgroups, and whether it may use them.

    Reads only the two files given (this process's by default, other files for tests):
    the cgroup paths from `proc_cgroup`, the mount points from `mountinfo`. v2 is used
    when it has the controllers, else v1. Nothing is created or written.
    """
    try:
        paths = _own_cgroups(proc_cgroup.read_text())
        mounts = _cgroup_mounts(mountinfo.read_text())
    except OSError as exc:
        return CgroupSupport(reason=f"cannot read {exc.filename}: {exc.strerror}")
    except (ValueError, IndexError):
        return CgroupSupport(reason=f"cannot make sense of {proc_cgroup} or {mountinfo}")
    unified = _located(paths.get(""), mounts.get(""))
    if unified is not None and _v2_controllers(unified) >= set(_CONTROLLERS):
        return _checked(CgroupSupport(2, unified, unified))
    found = {name: _located(paths.get(name), mounts.get(name)) for name in _CONTROLLERS}
    if not any(found.values()):
        return CgroupSupport(
            reason="no cgroup hierarchy here has the memory or pids controller for this process"
        )
    return _checked(CgroupSupport(1, found["memory"], found["pids"]))


@functools.cache
def cgroup_support() -> CgroupSupport:
    """This machine's `find_cgroups`, tried once for real (a cgroup made and removed).

    When a total cannot be enforced, one log record says why, and `reason` keeps it;
    runs then rely on rlimits (per process) and the sized `/tmp` alone.
    """
    support = find_cgroups()
    if support.dirs:
        support = _trial(support)
    for parent in support.dirs:
        remove_stale(parent)
    if support.reason is not None:
        logger.info("per-run cgroup totals are limited here: %s", support.reason)
    return support


class RunCgroup:
    """The cgroups of one run, holding its memory and process totals.

    Make one with `RunCgroup.create`; `close()` removes it (always call it).
    """

    def __init__(
        self, support: CgroupSupport, made: dict[str, Path], policy: ProcessPolicy
    ) -> None:
        self._support = support
        self._made = made
        self._policy = policy
        self._oom_killed = False

    @classmethod
    def create(cls, policy: ProcessPolicy, support: CgroupSupport) -> RunCgroup | None:
        """A new cgroup under `support`'s parents with `policy`'s totals, or None.

        None when `support` has no parent, or when making it failed (logged; the run
        goes on with its rlimits).
        """
        if support.version == 1 and policy.uid is not None and support.memory is not None:
            # Joining a cgroup costs an RCU grace period (about 5 ms), once per v1
            # hierarchy. A run with an identity of its own has its process total from
            # RLIMIT_NPROC of that uid already: it joins the memory hierarchy alone.
            support = dataclasses.replace(support, pids=None)
        try:
            run = cls.unlimited(support)
        except OSError as exc:
            logger.warning("could not make a run cgroup, using rlimits alone: %s", exc)
            return None
        if run is None:
            return None
        try:
            run.limit(policy)
        except OSError as exc:
            run.close()
            logger.warning("could not make a run cgroup, using rlimits alone: %s", exc)
            return None
        return run

    @classmethod
    def unlimited(cls, support: CgroupSupport, *, prefix: str = _NAME_PREFIX) -> RunCgroup | None:
        """A new cgroup under `support`'s parents with no totals yet, or None without one.

        Call `limit` before anything runs in it. Its name is `prefix`, this process's
        pid and a unique part.

        Raises:
            OSError: It could not be made (nothing is left behind).
        """
        if not support.dirs:
            return None
        name = f"{prefix}{os.getpid()}-{next(_counter)}-{secrets.token_hex(4)}"
        made: dict[Path, Path] = {}
        try:
            for parent in support.dirs:
                made[parent] = parent / name
                made[parent].mkdir(mode=0o755)
        except OSError:
            for path in made.values():
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return cls(support, _by_controller(support, made), ProcessPolicy())

    def limit(self, policy: ProcessPolicy) -> None:
        """Write `policy`'s totals (memory, processes) into a cgroup made `unlimited`.

        Raises:
            OSError: The kernel refused one (the cgroup is left as it was made).
        """
        self._policy = policy
        memory, pids = self._made.get("memory"), self._made.get("pids")
        total = str(policy.memory_bytes)
        if memory is not None and self._support.version == 2:
            (memory / "memory.max").write_text(total)
            _write_if_present(memory / "memory.swap.max", "0")
            _write_if_present(memory / "memory.oom.group", "1")
        elif memory is not None:
            (memory / "memory.limit_in_bytes").write_text(total)
            _write_if_present(memory / "memory.memsw.limit_in_bytes", total)
        if pids is not None:
            (pids / "pids.max").write_text(str(policy.processes))

    @property
    def procs_files(self) -> list[Path]:
        """The `cgroup.procs` file of each hierarchy, for `cgroup_join_argv`."""
        return [path / "cgroup.procs" for path in dict.fromkeys(self._made.values())]

    def memory_exhausted(self) -> bool:
        """Whether the kernel has killed a process of this run at its memory total."""
        memory = self._made.get("memory")
        if self._oom_killed or memory is None:
            return self._oom_killed
        self._oom_killed = _oom_kills(memory, self._support.version) > 0
        return self._oom_killed

    def memory_error(self, stderr: str = "") -> LimitExceeded | None:
        """`LimitExceeded(limit="memory")` when the memory total stopped the run, else None."""
        if not self.memory_exhausted():
            return None
        total = self._policy.memory_bytes
        msg = (
            f"the run used its {_size(total)} memory total and was stopped; "
            "raise ProcessPolicy.memory_bytes"
        )
        return LimitExceeded(msg, limit="memory", value=total, stderr=stderr)

    def close(self) -> None:
        """Kill what is left inside (orphans, the sandbox's teardown) and remove it.

        Every wait is bounded; a cgroup the kernel still holds after that is logged.
        """
        self.memory_exhausted()  # read before it is gone
        for path in dict.fromkeys(self._made.values()):
            _remove(path, self._support.version)
        self._made = {}


def remove_stale(parent: Path) -> list[str]:
    """Remove the run (and spare) cgroups that hosts killed outright left in `parent`.

    A name holds its maker's pid (`toolkernel-<pid>-...`, `toolkernel-spare-<pid>-...`).
    One is removed only when that pid is gone and the cgroup is empty (the kernel
    refuses to remove one that holds a process); one whose pid is alive, even if the pid
    was reused, is left alone. Returns the names removed.
    """
    removed: list[str] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = _maker_pid(entry.name)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(OSError):  # busy, or gone meanwhile: leave it
            entry.rmdir()
            removed.append(entry.name)
    if removed:
        logger.info("removed %d run cgroups left by hosts that are gone", len(removed))
    return removed


def _maker_pid(name: str) -> int | None:
    for prefix in (f"{_NAME_PREFIX}spare-", _NAME_PREFIX):
        if name.startswith(prefix):
            pid = name.removeprefix(prefix).split("-", 1)[0]
            return int(pid) if pid.isdigit() else None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _by_controller(support: CgroupSupport, made: dict[Path, Path]) -> dict[str, Path]:
    parents = {"memory": support.memory, "pids": support.pids}
    return {name: made[parent] for name, parent in parents.items() if parent is not None}


def _own_cgroups(text: str) -> dict[str, str]:
    """Controller name (`""` for v2) to this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            paths[name] = path
    return paths


def _cgroup_mounts(text: str) -> dict[str, tuple[str, Path]]:
    """Controller name (`""` for v2) to (mount root, mount point), from mountinfo."""
    mounts: dict[str, tuple[str, Path]] = {}
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        kind, options = fields[sep + 1], fields[sep + 3].split(",")
        root, point = _unescape(fields[3]), Path(_unescape(fields[4]))
        if kind == "cgroup2":
            mounts.setdefault("", (root, point))
        elif kind == "cgroup":
            for name in _CONTROLLERS:
                if name in options:
                    mounts.setdefault(name, (root, point))
    return mounts


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return field.encode().decode("unicode_escape") if "\\" in field else field


def _located(path: str | None, mount: tuple[str, Path] | None) -> Path | None:
    """The directory of cgroup `path` under its mount, if that mount shows it."""
    if path is None or mount is None:
        return None
    root, point = mount
    inside = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
    if inside.startswith(".."):
        return None  # our cgroup is outside what this mount shows
    found = point / inside if inside != "." else point
    return found if found.is_dir() else None


def _v2_controllers(path: Path) -> set[str]:
    try:
        return set((path / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def _checked(support: CgroupSupport) -> CgroupSupport:
    """`support` without the parents this process may not write in, saying why."""
    usable: dict[str, Path] = {}
    reasons = []
    for name in _CONTROLLERS:
        parent = getattr(support, name)
        if parent is None:
            reasons.append(f"no {name} controller (cgroup v1 or v2) holds this process")
        elif not os.access(parent, os.W_OK):
            reasons.append(f"{parent} is not writable by this process (not root, not delegated)")
        else:
            usable[name] = parent
    reason = "; ".join(reasons) or None
    return CgroupSupport(support.version, usable.get("memory"), usable.get("pids"), reason)


def _trial(support: CgroupSupport) -> CgroupSupport:
    """`support` once a cgroup was really made, limited and removed there."""
    if support.version == 2:
        problem = _enable_v2_controllers(support.dirs[0])
        if problem is not None:
            return CgroupSupport(2, reason=problem)
    trial = RunCgroup.create(ProcessPolicy(), support)
    if trial is None:
        return CgroupSupport(support.version, reason="making a run cgroup failed (see the log)")
    trial.close()
    return support


def _enable_v2_controllers(parent: Path) -> str | None:
    control = parent / "cgroup.subtree_control"
    try:
        if set(control.read_text().split()) >= set(_CONTROLLERS):
            return None
        control.write_text(" ".join(f"+{name}" for name in _CONTROLLERS))
    except OSError as exc:
        busy = " (it holds processes itself; cgroup v2 then keeps controllers from its children)"
        return (
            f"cannot enable memory and pids for the children of {parent}: {exc.strerror}"
            f"{busy if exc.errno == errno.EBUSY else ''}; start the kernel in a leaf of a "
            "cgroup delegated to it"
        )
    return None


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value)


def _oom_kills(memory: Path, version: int) -> int:
    """How many processes the kernel killed in `memory` at its limit."""
    name = "memory.events" if version == 2 else "memory.oom_control"
    try:
        counts = dict(line.split() for line in (memory / name).read_text().splitlines())
        if "oom_kill" in counts:
            return int(counts["oom_kill"])
        # Kernels before 4.13 count no kills in v1: count hits of the limit instead.
        return int((memory / "memory.failcnt").read_text()) if version == 1 else 0
    except (OSError, ValueError):
        return 0


def _remove(path: Path, version: int) -> None:
    for attempt in range(_REMOVE_TRIES):
        try:
            path.rmdir()
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                logger.warning("could not remove the run cgroup %s: %s", path, exc)
                return
            _kill_and_wait(path, version, attempt)
        else:
            return
    logger.warning("left the run cgroup %s behind: the kernel still shows tasks in it", path)


def _kill_and_wait(path: Path, version: int, attempt: int) -> None:
    """SIGKILL every process still in `path`, and wait (bounded) until they have exited.

    Each is opened as a pidfd first and signalled only if still listed, so a pid reused
    by a process outside the cgroup is never signalled.
    """
    kill_file = path / "cgroup.kill"
    if version == 2 and kill_file.exists():
        with contextlib.suppress(OSError):
            kill_file.write_text("1")
    pidfds = []
    for pid in _procs(path):
        with contextlib.suppress(OSError):
            pidfds.append((pid, os.pidfd_open(pid)))
    try:
        still = set(_procs(path))
        for pid, fd in pidfds:
            if pid in still:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
        deadline = time.monotonic() + _EXIT_WAIT_S
        for _, fd in pidfds:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not pidfds:
            # Tasks on their way out are no longer listed, yet still hold the cgroup, and
            # there is nothing to wait on: back off, 1 ms doubling (about 1 s in all).
            time.sleep(0.001 * 2**attempt)
    finally:
        for _, fd in pidfds:
            os.close(fd)


def _procs(path: Path) -> list[int]:
    try:
        return [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _size(value: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale and value % scale == 0:
            return f"{value // scale} {unit}"
    return f"{value} bytes"
