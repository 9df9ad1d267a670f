"""Choosing an isolation backend, and turning a policy into one ready-to-start launch."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkernel_sandbox._errors import SandboxError, SandboxUnavailable
from toolkernel_sandbox.process._argv import (
    bwrap_argv,
    firejail_argv,
    inner_command,
    nsjail_argv,
    working_dir,
)
from toolkernel_sandbox.process._layout import HostLayout, host_layout
from toolkernel_sandbox.process._limits import within_hard_limits
from toolkernel_sandbox.process._policy import (
    SANDBOX_GID,
    ProcessPolicy,
    sandbox_env,
)

__all__ = [
    "BACKENDS",
    "Launch",
    "UnsandboxedWarning",
    "check_command",
    "pick_backend",
    "prepare",
]

#: Every backend, in the order `pick_backend` tries the isolating ones.
BACKENDS = ("bwrap", "firejail", "nsjail", "rlimits")
_ISOLATING = BACKENDS[:3]
_INSTALL = "apt-get install bubblewrap"
_PROBE_TIMEOUT_S = 10.0

logger = logging.getLogger("toolkernel_sandbox.process")


class UnsandboxedWarning(UserWarning):
    """Code is about to run with the `rlimits` backend: limits, but no isolation."""


_RLIMITS_WARNING = (
    "backend 'rlimits' runs the command WITHOUT isolation: it sees the host's files, "
    "network and processes; only rlimits, a clean environment and the timeout apply. "
    f"Install bubblewrap ({_INSTALL}) for a real sandbox."
)


@dataclass(frozen=True)
class Launch:
    """One command, ready to start under one backend.

    Attributes:
        backend: The backend's name.
        argv: The full argv, backend first.
        env: The complete environment of the started process.
        cwd: The host directory to start in, or None to leave it to the backend.
        run_as: (uid, gid) to switch to before exec, or None to stay.
        warning: Why this launch is unsafe, or None.
    """

    backend: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None
    run_as: tuple[int, int] | None = None
    warning: str | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `subprocess.Popen` or `asyncio.create_subprocess_exec`."""
        kwargs: dict[str, Any] = {
            "env": self.env,
            "cwd": self.cwd,
            "start_new_session": True,  # the whole group can be killed at once
            "close_fds": True,
        }
        if self.run_as is not None:
            kwargs.update(user=self.run_as[0], group=self.run_as[1], extra_groups=[])
        return kwargs


def pick_backend(
    preferred: str | None = None, *, allow_rlimits: bool = False, path: str | None = None
) -> str:
    """The backend to run under: `preferred`, else the first of bwrap, firejail, nsjail.

    A backend counts only if its binary is on `path` and really starts a trivial
    sandbox (checked once per process), so a broken install is skipped, not used.

    Args:
        preferred: One of `BACKENDS`. `"rlimits"` is taken as the explicit opt-in to
            run without isolation.
        allow_rlimits: Fall back to `"rlimits"` when no isolating backend works.
        path: Where to look for the binaries (a `PATH`-style string); default `$PATH`.

    Raises:
        ValueError: `preferred` is not a known backend.
        SandboxUnavailable: No candidate works; the message says what to install.
    """
    if preferred is not None and preferred not in BACKENDS:
        msg = f"unknown sandbox backend {preferred!r}; choose one of {', '.join(BACKENDS)}"
        raise ValueError(msg)
    if preferred == "rlimits":
        return preferred
    reasons = []
    for name in (preferred,) if preferred else _ISOLATING:
        executable = shutil.which(name, path=path)
        problem = "not installed" if executable is None else _probe(name, executable)
        if problem is None:
            return name
        reasons.append(f"{name}: {problem}")
    if allow_rlimits and preferred is None:
        return "rlimits"
    msg = (
        f"no usable sandbox ({'; '.join(reasons)}); install bubblewrap with "
        f"`{_INSTALL}`, or pass backend='rlimits' to run without isolation"
    )
    raise SandboxUnavailable(msg)


def prepare(
    backend: str, policy: ProcessPolicy, command: Sequence[str], cwd: Path | None = None
) -> Launch:
    """Turn `command` under `policy` into a `Launch` for `backend` (already picked).

    Raises:
        ValueError: `command` is empty or not a sequence of strings.
        SandboxError: A path the policy shows does not exist, or (when we are root)
            uid 65534 could not use it; the message says how to fix it.
        SandboxUnavailable: The backend's binary is gone.
    """
    check_command(command)
    _check_paths_exist(policy, cwd)
    layout = host_layout()
    if layout.privileged:
        _check_nobody_access(policy)
    if not layout.privileged:
        policy = within_hard_limits(policy)
    env = sandbox_env(policy)
    if backend == "rlimits":
        return _rlimits_launch(policy, command, cwd, env, layout)
    executable = shutil.which(backend)
    if executable is None:
        msg = f"the {backend!r} binary is no longer on PATH; reinstall it ({_INSTALL})"
        raise SandboxUnavailable(msg)
    if backend == "bwrap":
        argv = bwrap_argv(policy, command, cwd=cwd, layout=layout, executable=executable)
        return Launch(backend, argv, env, None)
    if backend == "firejail":
        argv = firejail_argv(policy, command, layout=layout, executable=executable)
        return Launch(backend, argv, env, working_dir(policy, cwd))
    argv = nsjail_argv(policy, command, cwd=cwd, layout=layout, executable=executable)
    return Launch(backend, argv, env, None)


def _rlimits_launch(
    policy: ProcessPolicy,
    command: Sequence[str],
    cwd: Path | None,
    env: dict[str, str],
    layout: HostLayout,
) -> Launch:
    warnings.warn(_RLIMITS_WARNING, UnsandboxedWarning, stacklevel=4)
    logger.warning(_RLIMITS_WARNING)
    # As root, `setpriv` in the argv drops privileges (not `run_as`), so that the
    # process can still move itself into its run cgroup first (`cgroup_join_argv`).
    argv = inner_command(policy, command, layout)
    return Launch("rlimits", argv, env, working_dir(policy, cwd), None, _RLIMITS_WARNING)


@functools.cache
def _probe(backend: str, executable: str) -> str | None:
    """Why `backend` cannot start a trivial sandbox here, or None when it can."""
    try:
        launch = prepare(backend, ProcessPolicy(timeout_s=_PROBE_TIMEOUT_S), ["true"])
        done = subprocess.run(
            [executable, *launch.argv[1:]],
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            **launch.popen_kwargs(),
        )
    except (OSError, SandboxError, subprocess.SubprocessError) as exc:
        return f"failed to start ({exc})"
    if done.returncode != 0:
        first = done.stderr.decode(errors="replace").strip().splitlines()[:1]
        return f"a trivial sandbox failed (exit {done.returncode}: {' '.join(first)})"
    return None


def check_command(command: Sequence[str]) -> None:
    """Raise `ValueError` unless `command` is a non-empty list of strings without NUL."""
    if isinstance(command, str | bytes) or not command:
        msg = f"command must be a non-empty list of strings, not {command!r}"
        raise ValueError(msg)
    if not all(isinstance(arg, str) and "\0" not in arg for arg in command):
        msg = f"command must hold only strings without NUL bytes: {command!r}"
        raise ValueError(msg)


def _check_paths_exist(policy: ProcessPolicy, cwd: Path | None) -> None:
    tool = (policy.tool_dir,) if policy.tool_dir is not None else ()
    for path in (*policy.read_only, *policy.writable, *tool):
        if not os.path.lexists(path):
            msg = f"the policy shows {path}, which does not exist; create it or remove it"
            raise SandboxError(msg)
    if cwd is not None and not cwd.is_absolute():
        msg = f"cwd must be an absolute path inside the sandbox, not {str(cwd)!r}"
        raise ValueError(msg)


def _check_nobody_access(policy: ProcessPolicy) -> None:
    """Fail early, and say how to fix it, where the sandbox user could not use a path.

    Otherwise the sandboxed code would only meet a bare "Permission denied".
    """
    tool = (policy.tool_dir,) if policy.tool_dir is not None else ()
    uid = policy.run_uid
    for path in (*policy.read_only, *tool):
        info = path.stat()
        wanted = 0o5 if stat.S_ISDIR(info.st_mode) else 0o4
        if not _allowed(info, uid, wanted):
            msg = (
                f"sandboxed code runs as uid {uid} (group {SANDBOX_GID}), which cannot read "
                f"{path} (mode {stat.filemode(info.st_mode)}); make it world-readable "
                "(chmod o+rX)"
            )
            raise SandboxError(msg)
    for path in policy.writable:
        if not _allowed(path.stat(), uid, 0o2):
            msg = (
                f"sandboxed code runs as uid {uid} (group {SANDBOX_GID}), which cannot write "
                f"{path}; hand it over with toolkernel_sandbox.process.share_writable(path)"
            )
            raise SandboxError(msg)


def _allowed(info: os.stat_result, uid: int, bits: int) -> bool:
    """Whether `uid` (group `SANDBOX_GID`) has permission `bits` (o-style) on `info`."""
    if info.st_uid == uid:
        return info.st_mode >> 6 & bits == bits
    if info.st_gid == SANDBOX_GID:
        return info.st_mode >> 3 & bits == bits
    return info.st_mode & bits == bits
