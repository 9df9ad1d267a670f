"""What a sandboxed process may see and use: `ProcessPolicy`, validated when made."""

from __future__ import annotations

import hashlib
import math
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

from toolkernel_sandbox.process._allowlist import check_allowlist

__all__ = [
    "IDENTITY_RANGE",
    "PROXY_PORT",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "ProcessPolicy",
    "identity_for",
    "sandbox_env",
    "share_writable",
]

#: The user and group sandboxed code runs as when this process is root ("nobody"), so
#: that the kernel enforces the `processes` limit, which never binds root. Every
#: sandboxed process has this group; its user is this one unless the policy gives one.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

#: The uids `identity_for` gives out: no account on a usual system lives here.
IDENTITY_RANGE = range(0x4000_0000, 0x7FFF_0000)


def identity_for(name: str) -> int:
    """A stable uid of its own for `name` (a tool), from `IDENTITY_RANGE`.

    Code run as a uid of its own cannot signal, trace or read the `/proc` of another
    tool's processes, and the `processes` limit (`RLIMIT_NPROC`, counted per uid on
    the whole machine) becomes that tool's alone. Two names share a uid with odds of
    about n²/2³¹ for n tools (0.05 % for a thousand).
    """
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return IDENTITY_RANGE.start + digest % len(IDENTITY_RANGE)


#: The variables every sandboxed process gets; `ProcessPolicy.env` may override them.
_BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",  # noqa: S108  (the sandbox's own private tmpfs)
    "TMPDIR": "/tmp",  # noqa: S108
}

#: The port a process with `network_allow` finds its proxy on: the forwarder inside its
#: own network namespace listens on `127.0.0.1:PROXY_PORT` (nothing else holds it there).
PROXY_PORT = 3128
_PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
_PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_PROXY_ENV = {
    **dict.fromkeys(_PROXY_NAMES, _PROXY_URL),
    **{name.lower(): _PROXY_URL for name in _PROXY_NAMES},
    "NO_PROXY": "",
    "no_proxy": "",
    "NODE_USE_ENV_PROXY": "1",  # Node (22.21+, 24+) reads the variables above only then
}

_COUNTS = ("cpu_s", "memory_bytes", "processes", "file_size_bytes", "open_files")
_BYTES = ("stdout_bytes", "stderr_bytes", "tmp_bytes")
_PATHS = ("read_only", "writable")


@dataclass(frozen=True)
class ProcessPolicy:
    """Everything a sandboxed process may see and use. The default grants nothing extra.

    The sandbox always shows the system directories (`/usr`, `/bin`, `/lib*`) read-only,
    a minimal `/etc` (no `/etc/shadow`), a private writable `/tmp`, its own `/proc` (a
    pid namespace), and no home directories. When this process is root, the code runs
    as `uid` (default 65534) and group 65534, with no capabilities.

    Attributes:
        network: `True` (the bool, nothing else) lets the process use the network; any
            other value is refused with `TypeError`, so a string such as `"false"` can
            never switch it on.
        network_allow: Domain patterns (`api.github.com`, `*.example.org`,
            `localhost:8080`, `10.0.0.7`; see `toolkernel_sandbox.process._allowlist`)
            the process may reach through a filtering HTTP(S) proxy that `run`, `spawn`
            and `run_foreground` start outside the sandbox; the process itself still has
            no network. Empty (the default): no proxy. Only with `network=False`.
        read_only: Absolute host paths shown read-only at the same path. Only what is
            listed here is shown: nothing inside a shown folder (a `pyvenv.cfg`, a
            link) can add another, so a virtualenv needs its base interpreter's
            prefix listed too.
        writable: Absolute host paths shown writable at the same path. When this process
            is root they must be writable by group 65534 (see `share_writable`).
        tool_dir: The tool's own files, shown read-only; also the working directory.
        env: The only environment variables besides `PATH`, `LANG=C.UTF-8`,
            `HOME=/tmp` and `TMPDIR=/tmp` (and the proxy's, see `sandbox_env`). The host
            environment is never inherited.
        cpu_s: CPU seconds (`RLIMIT_CPU`); over it, `TimeLimitExceeded(limit="cpu")`.
        memory_bytes: Memory, twice over: the address space of each process
            (`RLIMIT_AS`; allocations past it fail), and the total of the whole run
            (its cgroup, where this machine allows one, see `cgroup_support`): every
            process, and what it writes to its tmpfs `/tmp`. Past the total the kernel
            kills a process and the run fails with `LimitExceeded(limit="memory")`.
        processes: Processes and threads, twice over: per uid (`RLIMIT_NPROC`, which
            counts every process and thread of the sandbox uid on the machine, not only
            this run's), and the total of the run (its cgroup's `pids.max`, which also
            counts the backend's own two or three processes). Forks past either fail.
            The default leaves room for other sandboxed runs (a node process alone has
            about a dozen threads).
        file_size_bytes: The largest file the process may write (`RLIMIT_FSIZE`).
        open_files: Open file descriptors per process (`RLIMIT_NOFILE`).
        tmp_bytes: The size of the private tmpfs `/tmp`; writes past it fail with
            "No space left on device" (bwrap, nsjail). firejail cannot size its
            `/tmp`: there the run's memory total bounds it (tmpfs pages count against
            the writer's memory cgroup), and without a cgroup only `file_size_bytes`
            bounds each file.
        timeout_s: Wall-clock seconds before the whole process group is killed and
            `TimeLimitExceeded(limit="time")` raised (`run` only).
        stdout_bytes: The most stdout kept; more kills the run with
            `LimitExceeded(limit="stdout")`. For `spawn`, the longest line.
        stderr_bytes: The most stderr kept; more kills the run (`limit="stderr"`).
            For `spawn`, the size of the kept tail.
        uid: The user the code runs as when this process is root: `identity_for(tool)`
            gives each tool its own; None is 65534. Ignored when not root (then the
            code runs as this user, in a user namespace).
    """

    network: bool = False
    network_allow: tuple[str, ...] = ()
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    tool_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cpu_s: int = 30
    memory_bytes: int = 1 * 2**30
    processes: int = 256
    file_size_bytes: int = 64 * 2**20
    open_files: int = 256
    tmp_bytes: int = 64 * 2**20
    timeout_s: float = 60.0
    stdout_bytes: int = 16 * 2**20
    stderr_bytes: int = 1 * 2**20
    uid: int | None = None

    @property
    def run_uid(self) -> int:
        """The uid the code runs as when this process is root."""
        return SANDBOX_UID if self.uid is None else self.uid

    def __post_init__(self) -> None:
        if type(self.network) is not bool:
            msg = (
                f"ProcessPolicy.network must be the bool True or False, not "
                f"{self.network!r}; pass network=True to allow network access"
            )
            raise TypeError(msg)
        object.__setattr__(self, "network_allow", check_allowlist(self.network_allow))
        if self.network and self.network_allow:
            msg = (
                "ProcessPolicy.network=True opens the whole network; give it or a "
                "network_allow list of domains, not both"
            )
            raise ValueError(msg)
        for name in _PATHS:
            object.__setattr__(self, name, _absolute_paths(name, getattr(self, name)))
        if self.tool_dir is not None:
            object.__setattr__(self, "tool_dir", _absolute_path("tool_dir", self.tool_dir))
        object.__setattr__(self, "env", MappingProxyType(_checked_env(self.env)))
        for name in (*_COUNTS, *_BYTES):
            _check_count(name, getattr(self, name))
        _check_seconds("timeout_s", self.timeout_s)
        if self.uid is not None and (type(self.uid) is not int or not 0 < self.uid < 2**31):
            msg = f"ProcessPolicy.uid must be an int between 1 and 2**31 - 1, not {self.uid!r}"
            raise ValueError(msg)

    def __hash__(self) -> int:
        values = [getattr(self, f.name) for f in fields(self) if f.name != "env"]
        return hash((*values, tuple(sorted(self.env.items()))))


def sandbox_env(policy: ProcessPolicy) -> dict[str, str]:
    """The complete environment a sandboxed process gets under `policy`.

    With `network_allow`, `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` (and their lower case
    forms) name the proxy's forwarder, `http://127.0.0.1:PROXY_PORT`, over anything
    `env` says, and `NO_PROXY` is empty.
    """
    proxy = _PROXY_ENV if policy.network_allow else {}
    return {**_BASE_ENV, **policy.env, **proxy}


def share_writable(path: Path) -> None:
    """Let sandboxed code write in `path` (a directory or file this process owns).

    When this process is root, sandboxed code runs as a uid of its own with group 65534,
    so `path` is handed to user and group 65534 and made group-writable (a directory
    also setgid, so what is made in it stays in the group); otherwise the code runs as
    this user already and nothing changes. A link is never followed.
    """
    if os.geteuid() != 0:
        return
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    os.chown(path, SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)
    extra = stat.S_IRWXG | (stat.S_ISGID if stat.S_ISDIR(info.st_mode) else 0)
    if stat.S_ISREG(info.st_mode) and not info.st_mode & stat.S_IXUSR:
        extra &= ~stat.S_IXGRP
    path.chmod(stat.S_IMODE(info.st_mode) | extra)


def _absolute_paths(name: str, value: object) -> tuple[Path, ...]:
    if isinstance(value, str | bytes | Path) or not isinstance(value, Iterable):
        msg = f"ProcessPolicy.{name} must be a tuple of paths, not {value!r}"
        raise TypeError(msg)
    return tuple(_absolute_path(name, item) for item in value)


def _absolute_path(name: str, value: object) -> Path:
    if not isinstance(value, str | Path):
        msg = f"ProcessPolicy.{name} holds {value!r}; give str or Path values"
        raise TypeError(msg)
    path = Path(value)
    if not path.is_absolute():
        msg = f"ProcessPolicy.{name} holds the relative path {str(path)!r}; give absolute paths"
        raise ValueError(msg)
    return path


def _checked_env(env: object) -> dict[str, str]:
    if not isinstance(env, Mapping):
        msg = f"ProcessPolicy.env must be a mapping of str to str, not {env!r}"
        raise TypeError(msg)
    checked: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            msg = f"ProcessPolicy.env must map str to str; {key!r}: {value!r} is not"
            raise TypeError(msg)
        if not key or "=" in key or "\0" in key or "\0" in value:
            msg = f"ProcessPolicy.env has an invalid variable name or value: {key!r}"
            raise ValueError(msg)
        checked[key] = value
    return checked


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        msg = f"ProcessPolicy.{name} must be a positive whole number, not {value!r}"
        raise ValueError(msg)


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        valid = False
    else:
        valid = math.isfinite(value) and value > 0
    if not valid:
        msg = f"ProcessPolicy.{name} must be a positive finite number of seconds, not {value!r}"
        raise ValueError(msg)
