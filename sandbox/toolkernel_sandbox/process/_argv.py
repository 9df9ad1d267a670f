"""Pure argv builders, one per isolation backend: policy and command in, argv out.

Nothing here touches the filesystem or starts a process, so every flag is unit-tested.
The layout (system directories, minimal /etc, whether we are root) comes in as a value;
`host_layout()` gives this machine's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from toolkernel_sandbox.process._layout import HostLayout, host_layout
from toolkernel_sandbox.process._limits import prlimit_flags
from toolkernel_sandbox.process._policy import (
    SANDBOX_GID,
    SANDBOX_UID,
    ProcessPolicy,
    sandbox_env,
)

__all__ = [
    "JOIN_FAILED",
    "JOIN_MARKER",
    "bwrap_argv",
    "cgroup_join_argv",
    "firejail_argv",
    "inner_command",
    "join_failed",
    "nsjail_argv",
    "working_dir",
]

#: The exit code of the `cgroup_join_argv` prefix when it could not enter a cgroup, and
#: the words it writes to stderr then (so that a command's own exit 125 is not taken).
JOIN_FAILED = 125
JOIN_MARKER = "toolkernel_sandbox: could not join the run's cgroup"
_JOIN_SCRIPT = (
    'for f; do [ "$f" = -- ] && break; '
    f'echo $$ > "$f" || {{ echo "{JOIN_MARKER} $f" >&2; exit {JOIN_FAILED}; }}; '
    'shift; done; shift; exec "$@"'
)
_SH = "/bin/sh"

_TMP = Path("/tmp")  # noqa: S108  (the sandbox's own private tmpfs)
_MIB = 2**20
_FIREJAIL_ENV = (
    "FIREJAIL_QUIET",
    "KDE_FORK_SLAVES",
    "PROMPT_COMMAND",
    "QML_DISABLE_DISK_CACHE",
    "QT_X11_NO_MITSHM",
    "SHELL",
    "SHLVL",
    "_",
    "container",
)


def working_dir(policy: ProcessPolicy, cwd: Path | None = None) -> Path:
    """The directory a sandboxed command starts in: `cwd`, else the tool dir, else /tmp."""
    return cwd or policy.tool_dir or _TMP


def inner_command(policy: ProcessPolicy, command: Sequence[str], layout: HostLayout) -> list[str]:
    """`command`, prefixed to set the rlimits and (when we are root) to drop root.

    `prlimit` sets every limit of `policy` (see `prlimit_flags`), then, as root,
    `setpriv` drops to the policy's uid (`ProcessPolicy.run_uid`) and group 65534 with
    no capabilities and `no_new_privs`: the process limit never binds root.
    """
    limited = [layout.prlimit, *prlimit_flags(policy), "--"]
    if not layout.privileged:
        return [*limited, *command]
    drop = [
        layout.setpriv,
        f"--reuid={policy.run_uid}",
        f"--regid={SANDBOX_GID}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    return [*limited, *drop, *command]


def cgroup_join_argv(procs_files: Sequence[Path], argv: Sequence[str]) -> list[str]:
    """`argv`, prefixed to move itself into each cgroup (its `cgroup.procs`) first.

    The shell writes its own pid into each file, then execs `argv` with the same pid,
    so everything the backend starts is inside from the first fork, and no
    `preexec_fn` is needed. If a write fails it exits with `JOIN_FAILED` and runs
    nothing.
    """
    return [_SH, "-c", _JOIN_SCRIPT, "sh", *map(str, procs_files), "--", *argv]


def join_failed(returncode: int | None, stderr: str) -> bool:
    """Whether an exit is the join prefix failing (not the command exiting 125)."""
    return returncode == JOIN_FAILED and JOIN_MARKER in stderr


def bwrap_argv(
    policy: ProcessPolicy,
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    layout: HostLayout | None = None,
    executable: str = "bwrap",
) -> list[str]:
    """The bubblewrap argv that runs `command` under `policy`.

    The sandbox is built from nothing: system directories and a minimal /etc read-only,
    fresh /proc and /dev, a private tmpfs /tmp of `policy.tmp_bytes` (bwrap >= 0.5), then
    the policy's paths. Namespaces:
    pid, ipc, uts, cgroup and (unless `policy.network is True`) net; a user namespace
    too when we are not root (as root, `setpriv` drops privileges instead, see
    `inner_command`). The environment is not in the argv, where `ps` would show any
    secret in it: start bwrap with `sandbox_env(policy)` as its whole environment.
    """
    layout = layout or host_layout()
    argv = [executable, "--die-with-parent", "--new-session"]
    argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if policy.network is not True:
        argv.append("--unshare-net")
    if not layout.privileged:
        argv += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
    argv += ["--hostname", "sandbox"]
    for path in layout.system_dirs:
        argv += ["--ro-bind", str(path), str(path)]
    for link, target in layout.system_links:
        argv += ["--symlink", target, str(link)]
    argv += ["--dir", "/etc"] if layout.etc_entries else []
    for path in layout.etc_entries:
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(policy.tmp_bytes), "--tmpfs", str(_TMP)]
    for path in _read_only(policy):
        argv += [*_bwrap_parent(path, layout), "--ro-bind", str(path), str(path)]
    for path in policy.writable:
        argv += [*_bwrap_parent(path, layout), "--bind", str(path), str(path)]
    argv += ["--chdir", str(working_dir(policy, cwd)), "--"]
    return argv + inner_command(policy, command, layout)


def firejail_argv(
    policy: ProcessPolicy,
    command: Sequence[str],
    *,
    layout: HostLayout | None = None,
    executable: str = "firejail",
) -> list[str]:
    """The firejail argv that runs `command` under `policy`.

    firejail starts from the host's filesystem, so this hides by exclusion: every
    top-level directory that is not a system one is blacklisted, or (when the policy
    shows paths inside it) replaced by a tmpfs holding only those paths (`--whitelist`).
    /etc becomes the same minimal /etc as under bubblewrap, and /tmp a private tmpfs,
    which firejail cannot size: the run's cgroup memory total bounds it instead.
    Start it with the working directory as the process's cwd (see `working_dir`):
    firejail keeps the caller's; and with `sandbox_env(policy)` as its environment, as
    for bwrap (the variables firejail adds are removed inside). Note: under firejail,
    uid 65534 cannot enter a shown path whose host parents it may not enter (such as
    anything under a 0700 /root).
    """
    layout = layout or host_layout()
    # Without --deterministic-shutdown firejail waits for every orphan inside to exit.
    argv = [executable, "--quiet", "--noprofile", "--private-dev"]
    argv += ["--deterministic-shutdown", "--deterministic-exit-code"]
    if policy.network is not True:
        argv.append("--net=none")
    if not layout.privileged:
        argv.append("--noroot")
    shown = (*_read_only(policy), *policy.writable)
    argv += _firejail_hiding(shown, layout)
    argv += [f"--read-only={path}" for path in _read_only(policy)]
    # firejail adds variables of its own (SHELL, container, QT_X11_NO_MITSHM, ...).
    declared = sandbox_env(policy)
    unset = [arg for name in _FIREJAIL_ENV if name not in declared for arg in ("-u", name)]
    return [*argv, "--", layout.env, *unset, *inner_command(policy, command, layout)]


def nsjail_argv(
    policy: ProcessPolicy,
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    layout: HostLayout | None = None,
    executable: str = "nsjail",
) -> list[str]:
    """The nsjail argv that runs `command` under `policy`.

    nsjail isolates the network by default; `--disable_clone_newnet` (`-N`) turns it
    ON, so it is added only when `policy.network is True`. nsjail clears the
    environment; `--env NAME` passes each variable on from nsjail's own environment,
    so start it with `sandbox_env(policy)` and no value shows in the argv. It sets
    every limit itself (its own defaults would otherwise apply), sizes /tmp (its tmpfs
    size applies to every `--tmpfsmount`), and maps the policy's
    uid inside to the same uid outside when we are root.
    """
    layout = layout or host_layout()
    uid = policy.run_uid
    user = f"{uid}:{uid}:1" if layout.privileged else str(SANDBOX_UID)
    group = f"{SANDBOX_GID}:{SANDBOX_GID}:1" if layout.privileged else str(SANDBOX_GID)
    argv = [executable, "--mode", "o", "--really_quiet", "--user", user, "--group", group]
    argv += ["--hostname", "sandbox", "--cwd", str(working_dir(policy, cwd))]
    argv += ["--time_limit", str(math.ceil(policy.timeout_s) + 1)]
    argv += _nsjail_rlimits(policy)
    if policy.network is True:
        argv.append("--disable_clone_newnet")
    for name in sandbox_env(policy):
        argv += ["--env", name]
    for path in (*layout.system_dirs, *layout.etc_entries):
        argv += ["--bindmount_ro", str(path)]
    for link, target in layout.system_links:
        argv += ["--symlink", f"{target}:{link}"]
    argv += ["--bindmount", "/dev/null"]
    for device in ("/dev/zero", "/dev/random", "/dev/urandom"):
        argv += ["--bindmount_ro", device]
    argv += ["--tmpfs_size", str(policy.tmp_bytes), "--tmpfsmount", str(_TMP)]
    argv += [arg for p in _read_only(policy) for arg in ("--bindmount_ro", str(p))]
    argv += [arg for p in policy.writable for arg in ("--bindmount", str(p))]
    return [*argv, "--", *command]


def _read_only(policy: ProcessPolicy) -> tuple[Path, ...]:
    tool = (policy.tool_dir,) if policy.tool_dir is not None else ()
    return (*policy.read_only, *tool)


def _bwrap_parent(path: Path, layout: HostLayout) -> list[str]:
    # bwrap makes a bind's missing parents mode 0700, which uid 65534 cannot enter;
    # `--dir` makes them 0755. Parents inside the read-only system dirs already exist.
    parent = path.parent
    system = layout.system_names - {"etc", "tmp"}
    if len(parent.parts) < 2 or parent.parts[1] in system:
        return []
    return ["--dir", str(parent)]


def _firejail_hiding(shown: tuple[Path, ...], layout: HostLayout) -> list[str]:
    keep = layout.system_names - {"etc", "tmp"}
    args: list[str] = []
    for top in layout.top_level:
        if top.name in keep:
            continue
        inside = [path for path in shown if path.is_relative_to(top)]
        if top.name == "etc":
            inside = [*layout.etc_entries, *inside]
        if inside:
            args += [f"--whitelist={path}" for path in inside]
        elif top.name == "tmp":
            args.append("--private-tmp")
        elif top.name == "run":
            hidden = [p for p in layout.run_entries if p.name != "firejail"]
            args += [f"--blacklist={path}" for path in hidden]
        else:
            args.append(f"--blacklist={top}")
    return args


def _nsjail_rlimits(policy: ProcessPolicy) -> list[str]:
    return [
        "--rlimit_as",
        str(math.ceil(policy.memory_bytes / _MIB)),
        "--rlimit_cpu",
        str(policy.cpu_s),
        "--rlimit_fsize",
        str(math.ceil(policy.file_size_bytes / _MIB)),
        "--rlimit_nofile",
        str(policy.open_files),
        "--rlimit_nproc",
        str(policy.processes),
    ]
