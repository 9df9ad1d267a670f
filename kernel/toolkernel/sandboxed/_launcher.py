"""The sandboxed kernel's launcher: the kernelspec's argv, run outside the sandbox.

    python -P -s -m toolkernel.sandboxed -f {connection_file} [--workspace DIR] ...

It reads the connection file that `SandboxedProvisioner` had written (transport `ipc`,
sockets in a private folder), copies it into that folder, starts the kernel's tool host
outside the sandbox (`KernelHost`; unless `$TOOLKERNEL_HOST_SOCKET` names one already
running), and starts `python -m toolkernel.launcher` under bubblewrap (else firejail),
its tools reached through `RemoteToolHost`, in its place: Jupyter sees the launcher as
the kernel process. What the kernel gets is `kernel_policy`'s: no network, unless a
person names domains (`--network`, `$TOOLKERNEL_SANDBOX_NETWORK`, read here, outside the
sandbox, where the kernel's code cannot set them); then the kernel reaches those alone,
through a filtering proxy that runs on a thread of this launcher, as long as it does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import site
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import toolkernel
import toolkernel_sandbox
from toolkernel._spec import SOCKET_ENV_VAR
from toolkernel.config import toolkernel_home
from toolkernel.sandboxed._host import KernelHost
from toolkernel_sandbox import SandboxError
from toolkernel_sandbox.process import (
    Exited,
    ProcessPolicy,
    pick_backend,
    run_foreground,
    share_writable,
)

__all__ = [
    "ENV_ALLOWLIST",
    "HOST_SOCKET_VAR",
    "NETWORK_VAR",
    "KernelLimits",
    "checked_workspace",
    "explain_exit",
    "kernel_policy",
    "main",
    "network_allowlist",
]

#: The variable naming the tool host service's Unix socket. When the launching
#: environment sets it, the socket's folder is shown read-only inside and the variable
#: is passed on: it is how the kernel reaches tools that run outside the sandbox.
HOST_SOCKET_VAR = SOCKET_ENV_VAR

#: The variable holding the kernel's network allowlist: domain patterns, comma-separated
#: (`api.github.com,*.example.org,localhost:8080`). Unset or empty: no network.
NETWORK_VAR = "TOOLKERNEL_SANDBOX_NETWORK"

#: Variables passed on from the launching environment when set (nothing else is).
ENV_ALLOWLIST = ("JPY_SESSION_NAME", HOST_SOCKET_VAR)

#: Where the kernel keeps its registry: the private `/tmp`, empty at each start. Tools
#: reach a sandboxed kernel through the host service, not through a shared home.
INNER_HOME = "/tmp/toolkernel"  # noqa: S108  (the sandbox's own private tmpfs)

#: How the kernel inside is told to reach its tools through the host's socket.
REMOTE_HOST_ARG = "--Toolbox.host_class=toolkernel.host.RemoteToolHost"

_CONNECTION_COPY = "connection.json"
_GIB = 2**30


@dataclass(frozen=True)
class KernelLimits:
    """The resources one sandboxed kernel may use.

    Attributes:
        memory_bytes: The address space of each of its processes (an allocation past it
            raises `MemoryError` in the cell, and the kernel goes on), and the total of
            all of them (a cgroup, where there is one: past it the kernel is killed, the
            launcher says so on stderr, and Jupyter restarts it).
        processes: Processes and threads of the kernel together (a fork past it fails
            in the cell with `BlockingIOError`).
        cpu_s: CPU seconds of each process over its whole life; past them the kernel is
            killed (SIGXCPU), the launcher says so, and Jupyter restarts it.
        tmp_bytes: The size of its private `/tmp`.
        file_size_bytes: The largest file it may write.
    """

    memory_bytes: int = 2 * _GIB
    processes: int = 256
    cpu_s: int = 3600
    tmp_bytes: int = _GIB // 4
    file_size_bytes: int = _GIB


def kernel_policy(
    *,
    workspace: Path,
    sockets_dir: Path,
    limits: KernelLimits,
    environ: Mapping[str, str],
    python_paths: Sequence[Path],
    package_paths: Sequence[Path],
    network_allow: Sequence[str] = (),
) -> ProcessPolicy:
    """The sandbox of one kernel: what it may read, write and see.

    Read-only: the system (by `toolkernel_sandbox`), and `python_paths` (the interpreter,
    the environment, the packages). Writable: `workspace` and `sockets_dir`. Its
    environment: `PATH`, `LANG`, `HOME=/tmp`, `TMPDIR=/tmp` (from the sandbox),
    `PYTHONPATH` (`package_paths`, so it imports the same toolkernel as this launcher),
    `TOOLKERNEL_HOME` (`INNER_HOME`), `TOOLKERNEL_SANDBOXED=1`, and the names of
    `ENV_ALLOWLIST` that `environ` sets. No network, unless `network_allow` names
    domain patterns (see `network_allowlist`): then `run_foreground` starts the filtering
    proxy and the sandbox adds the variables that name it (`HTTP_PROXY`, `HTTPS_PROXY`,
    `ALL_PROXY`, their lower case forms, `NO_PROXY` empty) to this environment.

    Raises:
        ValueError: A pattern of `network_allow` is malformed.
    """
    env = {name: environ[name] for name in ENV_ALLOWLIST if environ.get(name)}
    env |= {
        "PYTHONPATH": os.pathsep.join(map(str, package_paths)),
        "TOOLKERNEL_HOME": INNER_HOME,
        "TOOLKERNEL_SANDBOXED": "1",
    }
    shown = list(python_paths)
    socket = environ.get(HOST_SOCKET_VAR)
    if socket:
        shown.append(Path(socket).parent)
    writable = (workspace, sockets_dir)
    return ProcessPolicy(
        read_only=_outermost(shown, writable),
        writable=writable,
        env=env,
        memory_bytes=limits.memory_bytes,
        processes=limits.processes,
        cpu_s=limits.cpu_s,
        tmp_bytes=limits.tmp_bytes,
        file_size_bytes=limits.file_size_bytes,
        open_files=4096,
        network_allow=tuple(network_allow),
    )


def python_paths() -> list[Path]:
    """The folders this interpreter runs from: its prefixes and its `sys.path` folders.

    Left out: the working directory, the user's site-packages (the kernel runs with
    `-s`), and any folder that is, or holds, the home directory.
    """
    found = [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)]
    found += [Path(p) for p in sys.path if p and Path(p).is_absolute()]
    home, user_site = Path.home(), Path(site.getusersitepackages())
    return [
        path
        for path in found
        if path.is_dir() and path not in (Path.cwd(), user_site) and not home.is_relative_to(path)
    ]


def package_paths() -> list[Path]:
    """The folders `toolkernel` and `toolkernel_sandbox` were imported from."""
    roots = (
        Path(toolkernel.__file__).parent.parent,
        Path(toolkernel_sandbox.__file__).parent.parent,
    )
    return list(dict.fromkeys(roots))


def network_allowlist(flags: Sequence[str] | None, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The kernel's network allowlist: the `--network` patterns, else `NETWORK_VAR`'s.

    The variable's patterns are comma-separated; blanks around them, and empty ones, are
    dropped. No pattern: no network. Returned checked and normalized.

    Raises:
        ValueError: A pattern is malformed; the message says where it came from, how to
            write it, and that the kernel does not start with it.
    """
    if flags:
        patterns, source = list(flags), "--network"
    else:
        given = environ.get(NETWORK_VAR, "")
        patterns, source = [p.strip() for p in given.split(",") if p.strip()], NETWORK_VAR
    try:
        return ProcessPolicy(network_allow=tuple(patterns)).network_allow
    except ValueError as exc:
        msg = (
            f"{source} holds a pattern the network allowlist refuses, so the kernel was not "
            f"started: {exc}; fix {source} in the kernelspec's env or in the environment "
            "Jupyter runs in (leave it empty for no network)"
        )
        raise ValueError(msg) from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Start the kernel of the connection file under the sandbox; return its exit status."""
    args = _parser().parse_args(argv)
    environ = dict(os.environ)
    host: KernelHost | None = None
    try:
        sockets_dir, inner_file = _sockets(args.connection_file)
        workspace = checked_workspace((args.workspace or Path.cwd()).resolve(), sockets_dir)
        network_allow = network_allowlist(args.network, environ)
        if not environ.get(HOST_SOCKET_VAR):
            host = KernelHost.start(
                environ=environ,
                home=toolkernel_home(),
                log_name=f"host-{args.connection_file.stem}.log",
                policy_file=args.policy,
            )
            environ[HOST_SOCKET_VAR] = str(host.socket)
        limits = KernelLimits(
            memory_bytes=args.memory, processes=args.processes, cpu_s=args.cpu_seconds
        )
        policy = kernel_policy(
            workspace=workspace,
            sockets_dir=sockets_dir,
            limits=limits,
            environ=environ,
            python_paths=python_paths(),
            package_paths=package_paths(),
            network_allow=network_allow,
        )
        for path in (workspace, sockets_dir, inner_file):
            share_writable(path)
        backend = pick_backend(args.backend)
        if network_allow:
            _check_reachable_interpreter(backend, Path(sys.executable))
        command = [sys.executable, "-P", "-s", "-m", "toolkernel.launcher", "-f", str(inner_file)]
        command.extend([REMOTE_HOST_ARG, *args.kernel_option])
        exited = run_foreground(command, policy=policy, backend=backend, cwd=workspace)
    except (SandboxError, ValueError, OSError) as exc:
        sys.stderr.write(f"toolkernel-sandboxed: the kernel could not start: {exc}\n")
        return 1
    finally:
        if host is not None:
            host.stop()
    explanation = explain_exit(exited, limits)
    if explanation:
        sys.stderr.write(f"toolkernel-sandboxed: {explanation}\n")
    return exited.returncode


def checked_workspace(workspace: Path, sockets_dir: Path) -> Path:
    """`workspace`, unless showing it would show the home folder, `/tmp` or the system.

    Raises:
        ValueError: It is, or holds, the home folder or the sockets folder, or is `/`.
    """
    home = Path.home()
    if home.is_relative_to(workspace) or sockets_dir.is_relative_to(workspace):
        shows = "your home folder" if home.is_relative_to(workspace) else "the host's /tmp"
        msg = (
            f"the workspace {workspace} would show {shows} to the sandboxed kernel; open the "
            "notebook from a project folder, or name one with --workspace or "
            "TOOLKERNEL_SANDBOX_WORKSPACE"
        )
        raise ValueError(msg)
    return workspace


def explain_exit(exited: Exited, limits: KernelLimits) -> str | None:
    """What a person reads in Jupyter's log when a limit (or a kill) ended the kernel."""
    lost = "its state is lost, and Jupyter restarts it"
    kind = exited.limit.limit if exited.limit is not None else None
    if kind == "memory":
        return (
            f"the kernel's processes used their {limits.memory_bytes} byte memory total and "
            f"the kernel was killed; {lost}. Raise it with --memory or TOOLKERNEL_SANDBOX_MEMORY"
        )
    if kind == "cpu":
        return (
            f"the kernel used its {limits.cpu_s} s of CPU time and was stopped; {lost}. "
            "Raise it with --cpu-seconds or TOOLKERNEL_SANDBOX_CPU_SECONDS"
        )
    if kind == "file_size":
        return (
            f"the kernel wrote a file over {limits.file_size_bytes} bytes and was stopped; {lost}"
        )
    if exited.killed:
        return f"the kernel was killed (SIGKILL); {lost}"
    return None


def _check_reachable_interpreter(backend: str, executable: Path) -> None:
    """Refuse a network allowlist whose forwarder could not start the kernel's Python.

    With an allowlist, the proxy's forwarder (a process inside the sandbox, already
    running as the sandbox's uid) execs the kernel. Under firejail as root that uid is
    65534, which cannot enter a folder closed to others (such as a 0700 `/root`) that
    holds the interpreter; bubblewrap shows the interpreter without its host parents.

    Raises:
        ValueError: That is the case; the message names the folder and what to do.
    """
    if backend != "firejail" or os.geteuid() != 0:
        return
    real = executable.resolve()
    for folder in real.parents:
        if not folder.stat().st_mode & 0o001:
            msg = (
                f"with a network allowlist under firejail, the kernel's Python ({real}) "
                f"must be reachable by uid 65534, but {folder} is closed to other users; "
                "use bubblewrap (TOOLKERNEL_SANDBOX_BACKEND=bwrap), or a Python outside "
                f"{folder}, or leave {NETWORK_VAR} empty"
            )
            raise ValueError(msg)


def _sockets(connection_file: Path) -> tuple[Path, Path]:
    """The sockets folder named by the connection file, and the copy of it made there."""
    info = json.loads(connection_file.read_text(encoding="utf-8"))
    ip = Path(info.get("ip", ""))
    if info.get("transport") != "ipc" or not ip.is_absolute():
        msg = (
            f"{connection_file} asks for transport {info.get('transport')!r} at "
            f"{info.get('ip')!r}, but the sandboxed kernel has no network and needs 'ipc' "
            "at an absolute path; start it from the toolkernel-sandboxed kernelspec (its "
            "provisioner sets that up: reinstall toolkernel if Jupyter says it is missing)"
        )
        raise ValueError(msg)
    inner = ip.parent / _CONNECTION_COPY
    shutil.copyfile(connection_file, inner)
    return ip.parent, inner


def _outermost(paths: Sequence[Path], writable: Sequence[Path]) -> tuple[Path, ...]:
    """`paths` without duplicates, those inside another one, and the writable ones."""
    unique = sorted(dict.fromkeys(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if path in writable or any(path.is_relative_to(k) for k in kept):
            continue
        kept.append(path)
    return tuple(kept)


def _env_int(name: str, default: int) -> int | str:
    # A string default goes through `type=int`, so a bad value is reported as a bad flag.
    return os.environ.get(name) or default


_KERNEL_OPTION = re.compile(r"--[A-Za-z_]\w*(\.[A-Za-z_]\w*)+=.*", re.DOTALL)


def _kernel_option(text: str) -> str:
    """`--Class.name=value`, a traitlets option; anything else (`-f`, a path) is refused."""
    if not _KERNEL_OPTION.fullmatch(text):
        msg = f"{text!r} is not a kernel option of the form --Class.name=value"
        raise argparse.ArgumentTypeError(msg)
    return text


def _parser() -> argparse.ArgumentParser:
    defaults = KernelLimits()
    parser = argparse.ArgumentParser(
        prog="python -m toolkernel.sandboxed",
        description="Start the Toolkernel kernel under bubblewrap (or firejail). "
        "Each option also reads a TOOLKERNEL_SANDBOX_* variable of the launching environment.",
    )
    parser.add_argument("-f", dest="connection_file", type=Path, required=True)
    parser.add_argument(
        "--workspace",
        type=Path,
        default=os.environ.get("TOOLKERNEL_SANDBOX_WORKSPACE") or None,
        help="the one folder the kernel may write (default: its working directory, "
        "the notebook's folder) [TOOLKERNEL_SANDBOX_WORKSPACE]",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=_env_int("TOOLKERNEL_SANDBOX_MEMORY", defaults.memory_bytes),
        help="memory in bytes [TOOLKERNEL_SANDBOX_MEMORY]",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=_env_int("TOOLKERNEL_SANDBOX_PROCESSES", defaults.processes),
        help="processes and threads [TOOLKERNEL_SANDBOX_PROCESSES]",
    )
    parser.add_argument(
        "--cpu-seconds",
        type=int,
        default=_env_int("TOOLKERNEL_SANDBOX_CPU_SECONDS", defaults.cpu_s),
        help="CPU seconds per process [TOOLKERNEL_SANDBOX_CPU_SECONDS]",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=os.environ.get("TOOLKERNEL_SANDBOX_POLICY") or None,
        help="the tool host's policy file, a JSON object of c.ToolPolicy options (default: "
        "the ToolPolicy section of your toolkernel_config files, read by the host outside "
        "the sandbox) [TOOLKERNEL_SANDBOX_POLICY]",
    )
    parser.add_argument(
        "--network",
        action="append",
        metavar="PATTERN",
        help="a domain the kernel may reach through the launcher's filtering proxy: "
        "'api.github.com', '*.example.org', 'localhost:8080' or '10.0.0.7'; repeat it for "
        "more (default: none, no network) [TOOLKERNEL_SANDBOX_NETWORK, comma-separated]",
    )
    parser.add_argument(
        "--kernel-option",
        action="append",
        default=[],
        type=_kernel_option,
        metavar="--Class.name=VALUE",
        help="an option for the kernel inside the sandbox, such as "
        "--ToolKernelApp.subshells=False (toolkernel mcp passes its own); repeat it for more",
    )
    parser.add_argument(
        "--backend",
        choices=("bwrap", "firejail"),
        default=os.environ.get("TOOLKERNEL_SANDBOX_BACKEND") or None,
        help="the sandbox (default: bwrap, else firejail) [TOOLKERNEL_SANDBOX_BACKEND]",
    )
    return parser
